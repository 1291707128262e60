// Tests of template verification: reading templates and pairs, pooling by hand, runTemplates.
#include "l2face/eval/templates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

// Images a.jpg .. f.jpg in a folder; templates 10, 20 (subject 1), 30 (subject 2), rows of 10
// scattered, one absolute path.
class Templates : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f :
         {"img/a.jpg", "img/b.jpg", "img/c.jpg", "img/d.jpg", "img/e.jpg", "f.jpg"}) {
      writeFile(dir_.file(f), "");
    }
    writeFile(dir_.file("templates.csv"),
              "template_id,subject_id,image,media_id\r\n"
              "10,1,img/a.jpg,100\n"
              "20,1,img/c.jpg,200\n"
              "\n"
              "10,1,img/b.jpg,100\n"
              "30,2," +
                  dir_.file("f.jpg") +
                  ",300\n"
                  "10, 1 ,img/d.jpg,101\n"
                  "30,2,img/e.jpg,301\n");
    writeFile(dir_.file("template_pairs.csv"),
              "template_a,template_b,label\n10,20,1\n10,30,0\n20,30,0\n");
  }
  std::string templates() const { return dir_.file("templates.csv"); }
  void write(const std::string& name, const std::string& text) const {
    writeFile(dir_.file(name), text);
  }
  TempDir dir_;
};

TEST_F(Templates, ReadsScatteredRowsSortedByIdWithResolvedImages) {
  const TemplateSet set = readTemplates(dir_.path().string());  // a folder: its templates.csv
  EXPECT_EQ(set.file, templates());
  const std::vector<std::string> images = {dir_.file("f.jpg"),     dir_.file("img/a.jpg"),
                                           dir_.file("img/b.jpg"), dir_.file("img/c.jpg"),
                                           dir_.file("img/d.jpg"), dir_.file("img/e.jpg")};
  EXPECT_EQ(set.images, images);
  ASSERT_EQ(set.templates.size(), 3u);
  const Template& t10 = set.templates[0];
  EXPECT_EQ(t10.id, 10);
  EXPECT_EQ(t10.subject, 1);
  EXPECT_EQ(t10.line, 2);
  EXPECT_EQ(t10.images, (std::vector<int>{1, 2, 4}));  // a, b, d in file order
  EXPECT_EQ(t10.media, (std::vector<int64_t>{100, 100, 101}));
  EXPECT_EQ(set.templates[2].images, (std::vector<int>{0, 5}));
  EXPECT_EQ(set.find(20), 1);
  EXPECT_EQ(set.find(25), -1);

  const auto pairs = readTemplatePairs("", set, 10);  // "" = template_pairs.csv beside
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[1].a, 0u);
  EXPECT_EQ(pairs[1].b, 2u);
  EXPECT_TRUE(pairs[0].same);
  EXPECT_FALSE(pairs[2].same);
  EXPECT_EQ(pairs[2].fold, 2);  // 3 pairs in 10 folds: one pair each
  EXPECT_EQ(readTemplatePairs(dir_.file("template_pairs.csv"), set, 2)[2].fold, 1);
}

TEST_F(Templates, ErrorsNameFileAndLine) {
  const std::string f = dir_.file("t.csv");
  auto bad = [&](const std::string& body, std::initializer_list<std::string> parts) {
    write("t.csv", "template_id,subject_id,image,media_id\n" + body);
    expectEvalError([&] { readTemplates(f); }, parts);
  };
  bad("1,1,img/a.jpg,5\nx,1,img/b.jpg,5\n", {f + ":3", "template_id 'x' is not an integer"});
  bad("1,s1,img/a.jpg,5\n", {f + ":2", "subject_id 's1'"});
  bad("1,1,img/a.jpg,m\n", {f + ":2", "media_id 'm'"});
  bad("1,1,img/zz.jpg,5\n", {f + ":2", "image not found", dir_.file("img/zz.jpg")});
  bad("1,1,,5\n", {f + ":2", "template 1 has an empty image field"});
  bad("1,1,img/a.jpg\n", {f + ":2", "expected 4 fields", "found 3"});
  bad("1,1,img/a.jpg,5\n2,1,img/b.jpg,5\n1,2,img/c.jpg,6\n",
      {f + ":4", "template 1 names subject 2 but line 2 gave it subject 1"});
  bad("", {f, "header but no rows"});
  write("t.csv", "template,subject,image,media\n1,1,img/a.jpg,5\n");
  expectEvalError([&] { readTemplates(f); }, {f + ":1", "expected the header"});
  write("t.csv", "");
  expectEvalError([&] { readTemplates(f); }, {f, "empty templates file"});
  expectEvalError([&] { readTemplates(dir_.file("none.csv")); }, {"none.csv", "cannot open"});

  const TemplateSet set = readTemplates(templates());
  const std::string p = dir_.file("p.csv");
  auto badPairs = [&](const std::string& body, std::initializer_list<std::string> parts) {
    write("p.csv", "template_a,template_b,label\n" + body);
    expectEvalError([&] { readTemplatePairs(p, set, 10); }, parts);
  };
  badPairs("10,20,1\n10,99,0\n", {p + ":3", "unknown template id 99", templates()});
  badPairs("10,20,yes\n", {p + ":2", "label 'yes' is not 0 or 1"});
  badPairs("10,30,1\n",
           {p + ":2", "label 1 but template 10 is subject 1 and template 30 is subject 2"});
  badPairs("10,20,0\n", {p + ":2", "label 0"});
  badPairs("10,2a,1\n", {p + ":2", "template_b '2a' is not an integer"});
  badPairs("10,20\n", {p + ":2", "expected 3 fields"});
}

TEST(TemplatePooling, MeanOrMediaPooledThenNormalisedByHand) {
  // One template with rows x, y, y (media 1, 2, 2) and one with z alone; features are unit rows.
  TemplateSet set;
  set.images = {"x", "y", "z"};
  set.templates = {{1, 1, {0, 1, 1}, {1, 2, 2}, 2}, {2, 2, {2}, {7}, 5}};
  const std::vector<float> features = {1, 0, 0, 1, 0.6f, 0.8f};
  // Plain mean: (1, 2) / 3 -> normalised (1, 2) / sqrt(5).
  const auto plain = poolTemplates(set, features, 2, false);
  EXPECT_NEAR(plain[0], 1 / std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(plain[1], 2 / std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(plain[2], 0.6, 1e-6);
  EXPECT_NEAR(plain[3], 0.8, 1e-6);
  // Media-pooled: media 1 -> (1, 0), media 2 -> (0, 1); their mean (0.5, 0.5) -> (1, 1) / sqrt 2.
  const auto media = poolTemplates(set, features, 2, true);
  EXPECT_NEAR(media[0], 1 / std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(media[1], 1 / std::sqrt(2.0), 1e-6);

  // Opposite features cancel: an error naming the template, not a NaN score.
  set.images = {"x", "y"};
  set.templates = {{4, 1, {0, 1}, {1, 1}, 9}};
  set.file = "t.csv";
  expectEvalError(
      [&] {
        poolTemplates(set, {1, 0, -1, 0}, 2, false);
      },
      {"t.csv:9", "template 4 has a zero pooled feature"});
  expectEvalError([&] { poolTemplates(set, {1, 0}, 2, false); }, {"2 floats for 2 images"});
}

TEST_F(Templates, RunTemplatesEmbedsEachImageOnceAndScoresPooledFeatures) {
  const TemplateSet set = readTemplates(templates());
  const auto pairs = readTemplatePairs("", set, 10);
  // Unnormalised 2-d features per image; runTemplates must normalise before pooling.
  const std::map<std::string, std::vector<float>> feature = {
      {"a", {2, 0}}, {"b", {0, 3}}, {"c", {1, 1}}, {"d", {5, 0}}, {"e", {0, -1}}, {"f", {-4, 0}}};
  std::map<std::string, int> seen;
  auto embed = [&](const std::vector<std::string>& paths, std::vector<float>& out) {
    for (const auto& p : paths) {
      ++seen[p];
      const auto& f = feature.at(std::filesystem::path(p).stem().string());
      out.insert(out.end(), f.begin(), f.end());
    }
  };
  for (bool media_pool : {false, true}) {
    seen.clear();
    const auto r = runTemplates(set, pairs, embed, 2, 4, {0.5}, media_pool, "tiny");
    EXPECT_EQ(r.protocol, "templates");
    EXPECT_EQ(r.pairs, 3);
    EXPECT_EQ(seen.size(), 6u);
    for (const auto& [path, count] : seen) EXPECT_EQ(count, 1) << path;
    // Template 10 = a (1,0), b (0,1), d (1,0): plain mean direction (2,1)/sqrt5; media-pooled
    // media 100 -> (0.5,0.5), media 101 -> (1,0): mean (0.75,0.25) -> (3,1)/sqrt10.
    // Template 20 = c: (1,1)/sqrt2. Template 30 = f (-1,0), e (0,-1): (-1,-1)/sqrt2 either way.
    const double t10[2] = {media_pool ? 3 / std::sqrt(10.0) : 2 / std::sqrt(5.0),
                           media_pool ? 1 / std::sqrt(10.0) : 1 / std::sqrt(5.0)};
    const double s = 1 / std::sqrt(2.0);
    EXPECT_NEAR(r.scores[0], t10[0] * s + t10[1] * s, 1e-6);
    EXPECT_NEAR(r.scores[1], -(t10[0] * s + t10[1] * s), 1e-6);
    EXPECT_NEAR(r.scores[2], -1.0, 1e-6);
    EXPECT_EQ(r.labels, (std::vector<int>{1, 0, 0}));
  }
}

}  // namespace
}  // namespace l2face::eval
