// Tests of the all-vs-all protocol: the folder scan, the blocked scores against a plain double
// loop, TAR at FAR on a case built to a known answer, the resolved flag, refusals, the suite.
#include "l2face/eval/all_vs_all.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "l2face/eval/suite.h"
#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;
using testing::writeFile;

// Random features (not normalised: the scores are plain dot products) for identities of the
// given sizes, rows grouped by identity.
struct RandomSet {
  std::vector<float> features;
  std::vector<int> identity;
};

RandomSet randomSet(const std::vector<int>& sizes, int dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  RandomSet set;
  for (size_t id = 0; id < sizes.size(); ++id) {
    for (int k = 0; k < sizes[id]; ++k) {
      set.identity.push_back(static_cast<int>(id));
      for (int c = 0; c < dim; ++c) set.features.push_back(normal(rng));
    }
  }
  return set;
}

TEST(AllVsAll, ScoresAndLabelsEqualAPlainDoubleLoop) {
  // 151 images: several 8-row tiles and 64-column panels, with ragged ends; odd dim.
  const std::vector<int> sizes = {1, 7, 30, 2, 64, 11, 3, 33};
  const int dim = 19;
  const RandomSet set = randomSet(sizes, dim, 5);
  const size_t n = set.identity.size();
  ASSERT_EQ(n, 151u);
  std::vector<double> scores;
  std::vector<int> labels;
  allVsAllScores(set.features, dim, set.identity, 1, scores, labels);
  ASSERT_EQ(scores.size(), n * (n - 1) / 2);
  ASSERT_EQ(labels.size(), scores.size());

  std::vector<double> expected_scores;
  std::vector<int> expected_labels;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      double sum = 0.0;
      for (int k = 0; k < dim; ++k) {
        sum += static_cast<double>(set.features[i * dim + k]) * set.features[j * dim + k];
      }
      expected_scores.push_back(sum);
      expected_labels.push_back(set.identity[i] == set.identity[j] ? 1 : 0);
      EXPECT_EQ(
          allVsAllIndex(static_cast<int64_t>(i), static_cast<int64_t>(j), static_cast<int64_t>(n)),
          static_cast<int64_t>(expected_scores.size()) - 1);
    }
  }
  // Each score sums the same exact products in the same order: equal, not merely close.
  EXPECT_EQ(scores, expected_scores);
  EXPECT_EQ(labels, expected_labels);
  int64_t genuine = 0, expected_genuine = 0;
  for (int l : labels) genuine += l;
  for (int s : sizes) expected_genuine += int64_t{s} * (s - 1) / 2;
  EXPECT_EQ(genuine, expected_genuine);

  // The threads share out row tiles: the result does not depend on how many there are.
  std::vector<double> threaded;
  std::vector<int> threaded_labels;
  allVsAllScores(set.features, dim, set.identity, 3, threaded, threaded_labels);
  EXPECT_EQ(threaded, scores);
  EXPECT_EQ(threaded_labels, labels);
}

TEST(AllVsAll, ReportCountsPairsAndUsesIdentityFolds) {
  const std::vector<int> sizes = {3, 4, 2, 5, 1, 3};
  const RandomSet set = randomSet(sizes, 8, 9);
  const auto r = allVsAllReport(set.features, 8, set.identity, 6, {0.1}, 3, "all-vs-all:x");
  EXPECT_EQ(r.protocol, "all-vs-all");
  EXPECT_EQ(r.pairs, 18 * 17 / 2);
  EXPECT_EQ(r.metrics.positives, 3 + 6 + 1 + 10 + 0 + 3);
  EXPECT_EQ(r.metrics.negatives, r.pairs - r.metrics.positives);
  EXPECT_EQ(r.images, 18);
  EXPECT_EQ(r.identities, 6);
  // Folds of identities {0,1}, {2,3}, {4,5}: pairs within a fold only, 7·6/2 + 7·6/2 + 4·3/2.
  EXPECT_EQ(r.accuracy_pairs, 21 + 21 + 6);
  EXPECT_EQ(r.metrics.folds.size(), 3u);
}

// Five identities of two images each. Identity i's images share the component s_i on a common
// axis and are unit vectors otherwise in a plane of their own, so an impostor pair of identities
// i and j scores exactly s_i·s_j (four image pairs each) and identity i's genuine pair scores G_i.
struct Constructed {
  std::vector<float> features;
  std::vector<int> identity;
  static constexpr int kDim = 11;
};

Constructed constructedSet() {
  const double s[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
  const double g[5] = {0.9, 0.5, 0.14, 0.13, 0.07};
  Constructed c;
  for (int i = 0; i < 5; ++i) {
    const double r = std::sqrt(1.0 - s[i] * s[i]);
    const double cos_phi = (g[i] - s[i] * s[i]) / (1.0 - s[i] * s[i]);
    const double sin_phi = std::sqrt(1.0 - cos_phi * cos_phi);
    for (int image = 0; image < 2; ++image) {
      std::vector<float> row(Constructed::kDim, 0.0f);
      row[2 * i] = static_cast<float>(image == 0 ? r : r * cos_phi);
      row[2 * i + 1] = static_cast<float>(image == 0 ? 0.0 : r * sin_phi);
      row[10] = static_cast<float>(s[i]);
      c.features.insert(c.features.end(), row.begin(), row.end());
      c.identity.push_back(i);
    }
  }
  return c;
}

TEST(AllVsAll, TarAtFarOnAConstructedCase) {
  const Constructed c = constructedSet();
  const auto r = allVsAllReport(c.features, Constructed::kDim, c.identity, 5, {0.01, 0.1, 0.25}, 10,
                                "all-vs-all:constructed");
  ASSERT_EQ(r.pairs, 45);
  ASSERT_EQ(r.metrics.positives, 5);
  ASSERT_EQ(r.metrics.negatives, 40);
  // Impostor scores, highest first: 0.2 ×4, 0.15 ×4, 0.12 ×4, 0.1 ×4, 0.08 ×4, ...
  const auto& t = r.metrics.tar_at_far;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_FALSE(t[0].measurable);  // 0.01 × 40 < 1
  // FAR 0.1: 4 false accepts allowed; threshold = 5th highest impostor 0.15: G 0.9, 0.5 pass.
  EXPECT_TRUE(t[1].measurable);
  EXPECT_NEAR(t[1].threshold, 0.15, 1e-6);
  EXPECT_DOUBLE_EQ(t[1].tar, 2.0 / 5.0);
  EXPECT_EQ(t[1].false_accepts, 4);
  // FAR 0.25: 10 allowed; threshold = 11th highest 0.12 (a tie of four: only 8 pass).
  EXPECT_NEAR(t[2].threshold, 0.12, 1e-6);
  EXPECT_DOUBLE_EQ(t[2].tar, 4.0 / 5.0);
  EXPECT_EQ(t[2].false_accepts, 8);
  // AUC: G beats 40, 40, 32, 32 and 20 of the 40 impostors.
  EXPECT_NEAR(r.metrics.auc, 164.0 / 200.0, 1e-12);
}

TEST(AllVsAll, UnresolvedFarsAreMarked) {
  const Constructed c = constructedSet();
  auto r = allVsAllReport(c.features, Constructed::kDim, c.identity, 5, {0.01, 0.1, 0.25}, 10,
                          "all-vs-all:constructed");
  const auto& t = r.metrics.tar_at_far;
  EXPECT_FALSE(t[0].resolved);  // not measurable at all
  EXPECT_FALSE(t[1].resolved);  // 0.1 × 40 = 4 < 10
  EXPECT_TRUE(t[2].resolved);   // 0.25 × 40 = 10
  r.seconds = 0.5;
  const auto j = nlohmann::json::parse(reportJson(r));
  EXPECT_EQ(j.at("name"), "all-vs-all:constructed");
  EXPECT_EQ(j.at("protocol"), "all-vs-all");
  EXPECT_EQ(j.at("positives"), 5);
  EXPECT_EQ(j.at("negatives"), 40);
  EXPECT_EQ(j.at("images"), 10);
  EXPECT_EQ(j.at("identities"), 5);
  EXPECT_EQ(j.at("accuracy_folds"), "identities");
  // Five identities in 10 folds: five folds of one identity, each holding its genuine pair only.
  EXPECT_EQ(j.at("accuracy_pairs"), 5);
  const auto& far = j.at("tar_at_far");
  EXPECT_TRUE(far[0].at("impostors_above_threshold").is_null());
  EXPECT_EQ(far[0].at("resolved"), false);
  EXPECT_EQ(far[1].at("impostors_above_threshold"), 4);
  EXPECT_EQ(far[1].at("resolved"), false);
  EXPECT_EQ(far[2].at("impostors_above_threshold"), 8);
  EXPECT_EQ(far[2].at("resolved"), true);
  const std::string table = reportTable(r);
  EXPECT_NE(table.find("45 pairs (5 genuine / 40 impostor) of 10 images, 5 identities"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("unresolved: 0.1 × 40 negatives < 10"), std::string::npos) << table;
  EXPECT_EQ(table.find("unresolved: 0.25"), std::string::npos) << table;
}

TEST(AllVsAll, ScoringRefusesWrongSizesAndTheCap) {
  std::vector<double> scores;
  std::vector<int> labels;
  expectEvalError(
      [&] {
        allVsAllScores({1.f, 2.f, 3.f}, 2, {0, 1}, 1, scores, labels);
      },
      {"3 floats for 2 images of dim 2"});
  const size_t n = 14143;  // 14143 · 14142 / 2 > 100M
  const std::vector<float> features(n, 1.0f);
  const std::vector<int> identity(n, 0);
  expectEvalError([&] { allVsAllScores(features, 1, identity, 1, scores, labels); },
                  {"14143 images", "100000000", "14142"});
}

class AllVsAllFolder : public ::testing::Test {
 protected:
  void image(const std::string& relative) { writeFile(dir_.file(relative), ""); }
  TempDir dir_;
};

TEST_F(AllVsAllFolder, ListsSubFoldersOnlyGroupedAndSorted) {
  for (const char* f : {"ev/b/b_0002.jpg", "ev/b/b_0001.JPEG", "ev/a/a_0001.jpg",
                        "ev/a/a_0002.jpeg", "ev/a/notes.txt", "ev/a/.hidden.jpg", "ev/c/c_0001.jpg",
                        "ev/pairs.txt", "ev/loose.jpg", "ev/.cache/x.jpg"}) {
    image(f);
  }
  std::filesystem::create_directories(dir_.file("ev/empty"));
  const ImageFolderSet set = readImageFolder(dir_.file("ev"));
  EXPECT_EQ(set.identities, (std::vector<std::string>{"a", "b", "c"}));
  const std::string root = dir_.file("ev");
  EXPECT_EQ(set.images, (std::vector<std::string>{root + "/a/a_0001.jpg", root + "/a/a_0002.jpeg",
                                                  root + "/b/b_0001.JPEG", root + "/b/b_0002.jpg",
                                                  root + "/c/c_0001.jpg"}));
  EXPECT_EQ(set.identity, (std::vector<int>{0, 0, 1, 1, 2}));
  EXPECT_EQ(set.comparisons(), 10);
  EXPECT_EQ(set.genuinePairs(), 2);
  EXPECT_EQ(allVsAllName(root), "all-vs-all:ev");
  EXPECT_EQ(allVsAllName(root + "/"), "all-vs-all:ev");
}

TEST_F(AllVsAllFolder, BadFoldersAreRefusedNamingTheFolder) {
  const std::string missing = dir_.file("nowhere");
  expectEvalError([&] { readImageFolder(missing); }, {missing, "does not exist"});
  image("file.jpg");
  expectEvalError([&] { readImageFolder(dir_.file("file.jpg")); }, {"file.jpg", "not a folder"});
  const std::string empty = dir_.file("empty");
  std::filesystem::create_directories(empty + "/sub");
  image("empty/loose.jpg");  // files directly in the root do not count
  expectEvalError([&] { readImageFolder(empty); },
                  {empty, "no sub-folder holds .jpg/.jpeg images", "0 identities, 0 images"});
  for (const char* f : {"one/x/1.jpg", "one/x/2.jpg", "one/x/3.jpg", "one/pairs.txt"}) image(f);
  expectEvalError([&] { readImageFolder(dir_.file("one")); },
                  {dir_.file("one"), "at least 2 identities", "(1 identity, 3 images)"});
  for (const char* f : {"single/x/1.jpg", "single/y/1.jpg", "single/z/1.jpg"}) image(f);
  expectEvalError([&] { readImageFolder(dir_.file("single")); },
                  {dir_.file("single"), "no genuine pairs", "(3 identities, 3 images)"});
}

// Embeds a file by its identity folder's letter: a -> (1, 0), b -> (0.6, 0.8), else (0, 1).
void letterEmbed(const std::vector<std::string>& paths, std::vector<float>& out) {
  for (const auto& p : paths) {
    const char id = std::filesystem::path(p).parent_path().filename().string()[0];
    // Not normalised: runAllVsAll normalises.
    const std::vector<float> row = id == 'a'   ? std::vector<float>{2.f, 0.f}
                                   : id == 'b' ? std::vector<float>{0.6f, 0.8f}
                                               : std::vector<float>{0.f, 1.f};
    out.insert(out.end(), row.begin(), row.end());
  }
}

TEST_F(AllVsAllFolder, SuiteRunsItLastUnderItsName) {
  for (const char* f : {"ev/a/a_0001.jpg", "ev/a/a_0002.jpg", "ev/b/1.jpg", "ev/b/2.jpg",
                        "ev/c/1.jpg", "ev/x/x_0001.jpg", "ev/x/x_0002.jpg", "ev/pairs.txt"}) {
    image(f);
  }
  writeFile(dir_.file("ev/pairs.txt"), "1\nx 1 2\nx 1 a 1\n");
  EvalOptions o;
  o.pairs = dir_.file("ev/pairs.txt");
  o.all_vs_all = dir_.file("ev");
  o.far = {0.1};
  o.batch_size = 3;
  const EvalSuite suite(o);
  EXPECT_EQ(suite.names(), (std::vector<std::string>{"pairs.txt", "all-vs-all:ev"}));
  const auto reports = suite.run(letterEmbed, nullptr, 2, {}, 2);
  ASSERT_EQ(reports.size(), 2u);
  const VerificationReport& r = reports[1];
  EXPECT_EQ(r.name, "all-vs-all:ev");
  EXPECT_EQ(r.pairs, 21);               // 7 images
  EXPECT_EQ(r.metrics.positives, 3);    // a, b, x: one pair each
  EXPECT_EQ(r.scores[0], 1.0);          // a/1 · a/2 after normalising
  EXPECT_NEAR(r.scores[1], 0.6, 1e-7);  // a/1 · b/1
  EXPECT_EQ(r.embedding_dim, 2);
  EXPECT_GT(r.seconds, 0.0);

  // Sharded: rank 1 embeds its batches and returns a report holding only the name.
  std::vector<float> rank1_rows;
  EmbedShards r1{1, 2, [&](const std::vector<float>& local) {
                   rank1_rows = local;
                   std::vector<float> all(7 * 2, 1.0f);
                   return all;
                 }};
  const ImageFolderSet set = readImageFolder(o.all_vs_all);
  const auto unscored = runAllVsAll(set, letterEmbed, 2, 3, o.far, 10, "all-vs-all:ev", r1);
  EXPECT_EQ(unscored.name, "all-vs-all:ev");
  EXPECT_TRUE(unscored.scores.empty());
  EXPECT_EQ(rank1_rows.size(), 1u * 2);  // batches [0, 3) [3, 6) to rank 0, [6, 7) to rank 1
}

}  // namespace
}  // namespace l2face::eval
