// Tests of EvalSuite: the configured sets read once, run in order with the right embedder.
#include "l2face/eval/suite.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

// A .bin of two pairs as Python 2 pickled it: (["a", "a", "a", "b"], [True, False]).
std::string tinyBin() {
  std::string s("\x80\x02]q\x00(", 6);
  for (const char* image : {"a", "a", "a", "b"}) s += std::string("U\x01") + image;
  s += "e]q\x01(\x88\x89\x65\x86q\x02.";
  return s;
}

class Suite : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f : {"x/x_0001.jpg", "x/x_0002.jpg", "y/y_0001.jpg"})
      writeFile(dir_.file(f), "");
    writeFile(dir_.file("pairs.txt"), "1\nx 1 2\nx 1 y 1\n");
    writeFile(dir_.file("sets/first.bin"), tinyBin());
    writeFile(dir_.file("sets/second.bin"), tinyBin());
    writeFile(dir_.file("tpl/templates.csv"),
              "template_id,subject_id,image,media_id\n1,1,../x/x_0001.jpg,1\n"
              "2,1,../x/x_0002.jpg,2\n3,2,../y/y_0001.jpg,3\n");
    writeFile(dir_.file("tpl/template_pairs.csv"), "template_a,template_b,label\n1,2,1\n1,3,0\n");
  }
  TempDir dir_;
};

// Files: x images get (1, 0), y images (0, 1). Bytes: "a" -> (1, 0), "b" -> (0, 1).
void fileEmbed(const std::vector<std::string>& paths, std::vector<float>& out) {
  for (const auto& p : paths) {
    const bool x = p.find("/x/") != std::string::npos || p.find("/x_") != std::string::npos;
    out.insert(out.end(), {x ? 1.f : 0.f, x ? 0.f : 1.f});
  }
}
void bytesEmbed(const std::vector<EncodedImage>& images, std::vector<float>& out) {
  for (const auto& image : images) {
    const bool a = (*image.bytes)[0] == 'a';
    out.insert(out.end(), {a ? 1.f : 0.f, a ? 0.f : 1.f});
  }
}

TEST_F(Suite, RunsPairsThenEachBinThenTemplates) {
  EvalOptions o;
  o.pairs = dir_.file("pairs.txt");
  o.bins = dir_.file("sets/first.bin") + " , " + dir_.file("sets/second.bin");
  o.templates = dir_.file("tpl");
  o.far = {0.5};
  const EvalSuite suite(o);
  EXPECT_EQ(suite.size(), 4u);
  EXPECT_TRUE(suite.needsBytes());
  const std::vector<std::string> names = {"pairs.txt", "first", "second", "templates:tpl"};
  EXPECT_EQ(suite.names(), names);
  const auto reports = suite.run(fileEmbed, bytesEmbed, 2);
  ASSERT_EQ(reports.size(), 4u);
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].name, names[i]);
    EXPECT_EQ(reports[i].pairs, 2);
    EXPECT_EQ(reports[i].scores, (std::vector<double>{1.0, 0.0})) << names[i];
  }
  EXPECT_EQ(reports[1].protocol, "bin");
  EXPECT_EQ(reports[3].protocol, "templates");
  // Each run embeds again: the suite can be reused with another model.
  EXPECT_EQ(suite.run(fileEmbed, bytesEmbed, 2)[2].scores, reports[2].scores);
}

TEST_F(Suite, RepeatedBinStemsGetDistinctNames) {
  writeFile(dir_.file("other/first.bin"), tinyBin());
  EvalOptions o;
  o.bins = dir_.file("sets/first.bin") + "," + dir_.file("other/first.bin") + "," +
           dir_.file("sets/first.bin");
  EXPECT_EQ(EvalSuite(o).names(), (std::vector<std::string>{"first", "first_2", "first_3"}));
}

TEST_F(Suite, MissingEmbeddersAndBadListsAreErrors) {
  EvalOptions o;
  o.bins = dir_.file("sets/first.bin");
  const EvalSuite bins_only(o);
  EXPECT_FALSE(bins_only.empty());
  expectEvalError([&] { bins_only.run(fileEmbed, nullptr, 2); }, {"need a bytes embedder"});
  EXPECT_EQ(bins_only.run(nullptr, bytesEmbed, 2).size(), 1u);  // no file set: none needed
  o.bins = dir_.file("sets/first.bin") + ",,x.bin";
  expectEvalError([&] { EvalSuite s(o); }, {"has an empty entry"});
  o.bins = dir_.file("sets/none.bin");
  expectEvalError([&] { EvalSuite s(o); }, {"none.bin", "cannot open"});
  EvalOptions pairs_only;
  pairs_only.template_pairs = dir_.file("tpl/template_pairs.csv");
  expectEvalError([&] { EvalSuite s(pairs_only); }, {"given without templates"});
  EXPECT_TRUE(EvalSuite(EvalOptions{}).empty());
}

}  // namespace
}  // namespace l2face::eval
