// Tests of runPairs with fake embedders, and of the JSON / table / ROC CSV reports.
#include "l2face/eval/verification.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;
using testing::TempDir;

constexpr int kIdentities = 8;

// Paths "id<k>/img<j>.jpg": identity k, 10 pairs of each kind per fold, 10 folds.
std::vector<Pair> syntheticPairs() {
  std::vector<Pair> pairs;
  auto path = [](int id, int img) {
    return "id" + std::to_string(id) + "/img" + std::to_string(img) + ".jpg";
  };
  for (int fold = 0; fold < 10; ++fold) {
    for (int i = 0; i < 10; ++i) {
      const int id = (fold + i) % kIdentities;
      pairs.push_back({path(id, i % 3), path(id, 3 + i % 2), true, fold});
      pairs.push_back({path(id, i % 5), path((id + 1 + i % 3) % kIdentities, i % 4), false, fold});
    }
  }
  return pairs;
}

int identityOf(const std::string& path) { return std::stoi(path.substr(2, path.find('/') - 2)); }

// Embedding = 3 × one-hot(identity) + small noise (not normalised: runPairs must normalise).
class OneHotEmbedder {
 public:
  void operator()(const std::vector<std::string>& paths, std::vector<float>& out) {
    calls_.push_back(paths.size());
    std::normal_distribution<float> noise(0.f, 0.05f);
    for (const auto& p : paths) {
      ++seen_[p];
      for (int k = 0; k < kIdentities; ++k) {
        out.push_back((k == identityOf(p) ? 3.f : 0.f) + noise(rng_));
      }
    }
  }
  std::vector<size_t> calls_;
  std::map<std::string, int> seen_;

 private:
  std::mt19937 rng_{1};
};

TEST(Verification, OneHotEmbedderSeparatesPerfectly) {
  const auto pairs = syntheticPairs();
  OneHotEmbedder fake;
  const auto report = runPairs(
      pairs, [&](const auto& paths, auto& out) { fake(paths, out); }, kIdentities, 7, {0.01, 0.1},
      "synthetic");
  EXPECT_EQ(report.name, "synthetic");
  EXPECT_EQ(report.pairs, 200);
  EXPECT_EQ(report.embedding_dim, kIdentities);
  EXPECT_DOUBLE_EQ(report.metrics.accuracy_mean, 1.0);
  EXPECT_DOUBLE_EQ(report.metrics.auc, 1.0);
  EXPECT_DOUBLE_EQ(report.metrics.eer, 0.0);
  EXPECT_EQ(report.metrics.folds.size(), 10u);
  EXPECT_EQ(report.metrics.positives, 100);
  for (const auto& t : report.metrics.tar_at_far) {  // 0.01 × 100 negatives: 1 false accept allowed
    EXPECT_TRUE(t.measurable);
    EXPECT_DOUBLE_EQ(t.tar, 1.0);
  }
  ASSERT_EQ(report.scores.size(), 200u);
  for (size_t i = 0; i < pairs.size(); ++i) {
    // Cosine of normalised one-hot-plus-noise: ~1 for same identity, ~0 otherwise.
    EXPECT_NEAR(report.scores[i], pairs[i].same ? 1.0 : 0.0, 0.1) << i;
    EXPECT_EQ(report.labels[i], pairs[i].same ? 1 : 0);
  }
  // Each unique image embedded exactly once, in batches of at most 7.
  const auto unique = uniqueImages(pairs);
  EXPECT_EQ(fake.seen_.size(), unique.size());
  for (const auto& [path, count] : fake.seen_) EXPECT_EQ(count, 1) << path;
  size_t total = 0;
  for (size_t n : fake.calls_) {
    EXPECT_LE(n, 7u);
    total += n;
  }
  EXPECT_EQ(total, unique.size());
}

TEST(Verification, ScoresAreCosinesOfNormalisedEmbeddings) {
  // a = (3, 4) and b = (4, 3): cosine 24/25, whatever their lengths.
  const std::vector<Pair> pairs = {{"a", "b", true, 0}, {"a", "c", false, 0}};
  auto embed = [](const std::vector<std::string>& paths, std::vector<float>& out) {
    for (const auto& p : paths) {
      if (p == "a") out.insert(out.end(), {3.f, 4.f});
      if (p == "b") out.insert(out.end(), {40.f, 30.f});
      if (p == "c") out.insert(out.end(), {0.f, -2.f});
    }
  };
  const auto report = runPairs(pairs, embed, 2, 128, {}, "tiny");
  EXPECT_NEAR(report.scores[0], 24.0 / 25.0, 1e-6);
  EXPECT_NEAR(report.scores[1], -0.8, 1e-6);
}

TEST(Verification, BadEmbedderOutputOrArgumentsThrow) {
  const std::vector<Pair> pairs = {{"a", "b", true, 0}, {"a", "c", false, 0}};
  auto short_embed = [](const std::vector<std::string>& paths, std::vector<float>& out) {
    out.assign(paths.size() * 2 - 1, 1.f);
  };
  expectEvalError([&] { runPairs(pairs, short_embed, 2, 8, {}, "x"); },
                  {"returned 5 floats for 3 images of dim 2"});
  auto zero_embed = [](const std::vector<std::string>& paths, std::vector<float>& out) {
    for (const auto& p : paths) out.insert(out.end(), {p == "b" ? 0.f : 1.f, 0.f});
  };
  expectEvalError([&] { runPairs(pairs, zero_embed, 2, 8, {}, "x"); }, {"of b", "all zeros"});
  auto ok = [](const std::vector<std::string>& paths, std::vector<float>& out) {
    out.assign(paths.size() * 2, 1.f);
  };
  expectEvalError([&] { runPairs({}, ok, 2, 8, {}, "x"); }, {"no pairs"});
  expectEvalError([&] { runPairs(pairs, ok, 0, 8, {}, "x"); }, {"dim must be >= 1"});
  expectEvalError([&] { runPairs(pairs, ok, 2, 0, {}, "x"); }, {"batch_size must be >= 1"});
}

VerificationReport smallReport() {
  VerificationReport r;
  r.name = "lfw";
  r.protocol = "pairs";
  r.pairs = 6;
  r.embedding_dim = 4;
  r.seconds = 1.5;
  r.scores = {0.9, 0.7, 0.6, 0.4, 0.3, 0.2};
  r.labels = {1, 0, 1, 1, 0, 0};
  r.metrics = computeMetrics(r.scores, r.labels, {0, 0, 0, 1, 1, 1}, {0.5, 0.1});
  return r;
}

TEST(Verification, ReportJsonHasDocumentedFields) {
  const auto r = smallReport();
  const auto j = nlohmann::json::parse(reportJson(r));
  EXPECT_EQ(j.at("name"), "lfw");
  EXPECT_EQ(j.at("pairs"), 6);
  EXPECT_EQ(j.at("positives"), 3);
  EXPECT_EQ(j.at("negatives"), 3);
  EXPECT_DOUBLE_EQ(j.at("accuracy_mean").get<double>(), r.metrics.accuracy_mean);
  EXPECT_DOUBLE_EQ(j.at("accuracy_std").get<double>(), r.metrics.accuracy_std);
  ASSERT_EQ(j.at("folds").size(), 2u);
  EXPECT_DOUBLE_EQ(j["folds"][1].at("threshold").get<double>(), r.metrics.folds[1].threshold);
  EXPECT_DOUBLE_EQ(j["folds"][1].at("accuracy").get<double>(), r.metrics.folds[1].accuracy);
  ASSERT_EQ(j.at("tar_at_far").size(), 2u);
  EXPECT_DOUBLE_EQ(j["tar_at_far"][0].at("far").get<double>(), 0.5);
  // k = floor(0.5 × 3) = 1: threshold = 2nd highest negative 0.3; positives 0.9 0.6 0.4 pass.
  EXPECT_DOUBLE_EQ(j["tar_at_far"][0].at("tar").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["tar_at_far"][0].at("threshold").get<double>(), 0.3);
  EXPECT_TRUE(j["tar_at_far"][1].at("tar").is_null());  // 0.1 × 3 negatives < 1
  EXPECT_TRUE(j["tar_at_far"][1].at("threshold").is_null());
  EXPECT_NEAR(j.at("eer").get<double>(), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(j.at("auc").get<double>(), 7.0 / 9.0, 1e-12);
  EXPECT_EQ(j.at("embedding_dim"), 4);
  EXPECT_EQ(j.at("protocol"), "pairs");
  // The plotted ROC: here the whole curve (6 distinct scores -> 7 points), as in rocCurve.
  const auto roc = rocCurve(r.scores, r.labels);
  ASSERT_EQ(j.at("roc").at("far").size(), roc.size());
  EXPECT_DOUBLE_EQ(j["roc"]["tar"][3].get<double>(), roc[3].tar);
  EXPECT_DOUBLE_EQ(j["roc"]["threshold"][3].get<double>(), roc[3].threshold);
  EXPECT_DOUBLE_EQ(j.at("seconds").get<double>(), 1.5);
}

TEST(Verification, ReportTableShowsPercentages) {
  const auto r = smallReport();
  const std::string table = reportTable(r);
  char accuracy[64];
  std::snprintf(accuracy, sizeof(accuracy), "%.3f%% ± %.3f%%", 100 * r.metrics.accuracy_mean,
                100 * r.metrics.accuracy_std);
  EXPECT_NE(table.find(accuracy), std::string::npos) << table;
  EXPECT_NE(table.find("TAR@FAR=0.5"), std::string::npos) << table;
  EXPECT_NE(table.find("100.000%  (threshold 0.3000)"), std::string::npos) << table;
  EXPECT_NE(table.find("50.000% ± 16.667%"), std::string::npos) << table;  // folds: 2/3, 1/3
  // FAR 0.1 needs 10 negatives: not a row of its own, one line saying so.
  EXPECT_EQ(table.find("TAR@FAR=0.1"), std::string::npos) << table;
  EXPECT_NE(table.find("TAR not measurable with 3 negatives at FAR 0.1 (needs >= 10)"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("33.333%"), std::string::npos) << table;  // EER
  EXPECT_NE(table.find("0.77778"), std::string::npos) << table;  // AUC
}

// A .bin-like set of 10 pairs per fold over 10 folds; image bytes "id<k>" name the identity.
BinSet syntheticBin() {
  BinSet set;
  set.path = "/data/lfw.bin";
  set.name = "lfw";
  for (int p = 0; p < 100; ++p) {
    const int id = p % kIdentities;
    const bool same = p % 2 == 0;
    const int other = same ? id : (id + 1 + p % 3) % kIdentities;
    for (int k : {id, other}) {
      const std::string text = "id" + std::to_string(k);
      set.images.push_back(std::make_shared<const std::vector<uint8_t>>(text.begin(), text.end()));
    }
    set.same.push_back(same);
  }
  return set;
}

TEST(Verification, RunBinEmbedsEachDistinctImageOnceAndSplitsTenFolds) {
  const BinSet set = syntheticBin();
  std::vector<std::string> names;
  std::vector<size_t> calls;
  auto embed = [&](const std::vector<EncodedImage>& images, std::vector<float>& out) {
    calls.push_back(images.size());
    for (const auto& image : images) {
      names.push_back(image.name);
      const int id = std::stoi(std::string(image.bytes->begin() + 2, image.bytes->end()));
      for (int k = 0; k < kIdentities; ++k) out.push_back(k == id ? 2.f : 0.01f * k);
    }
  };
  const auto r = runBin(set, embed, kIdentities, 64, {0.1}, 10, "lfw");
  EXPECT_EQ(r.protocol, "bin");
  EXPECT_EQ(r.pairs, 100);
  EXPECT_DOUBLE_EQ(r.metrics.accuracy_mean, 1.0);
  ASSERT_EQ(r.metrics.folds.size(), 10u);  // insightface's 10 consecutive folds
  // 8 distinct contents ("id0".."id7"), each embedded once, named by its first appearance.
  EXPECT_EQ(calls, (std::vector<size_t>{kIdentities}));
  ASSERT_EQ(names.size(), static_cast<size_t>(kIdentities));
  EXPECT_EQ(names[0], "/data/lfw.bin images[0] (pair 0)");  // id0
  EXPECT_EQ(names[1], "/data/lfw.bin images[2] (pair 1)");  // id1
  EXPECT_EQ(names[2], "/data/lfw.bin images[3] (pair 1)");  // id3 (pair 1: id1 vs id3)
  for (size_t i = 0; i < set.same.size(); ++i) EXPECT_EQ(r.labels[i], set.same[i] ? 1 : 0);
  EXPECT_NEAR(r.scores[0], 1.0, 1e-6);
  // Batches of 3: 3, 3, 2.
  calls.clear();
  names.clear();
  const auto small = runBin(set, embed, kIdentities, 3, {0.1}, 10, "lfw");
  EXPECT_EQ(calls, (std::vector<size_t>{3, 3, 2}));
  EXPECT_EQ(small.scores, r.scores);

  auto zero = [](const std::vector<EncodedImage>& images, std::vector<float>& out) {
    for (const auto& image : images) {
      const bool broken = image.name.find("images[3]") != std::string::npos;
      for (int k = 0; k < kIdentities; ++k) out.push_back(broken ? 0.f : 1.f);
    }
  };
  expectEvalError([&] { runBin(set, zero, kIdentities, 64, {}, 10, "lfw"); },
                  {"runBin(lfw)", "images[3] (pair 1) is all zeros"});
  expectEvalError([&] { runBin(BinSet{}, embed, kIdentities, 64, {}, 10, "x"); }, {"no pairs"});
}

TEST(Verification, ReportFromScoresUsesContiguousFolds) {
  std::vector<double> s;
  std::vector<int> l;
  for (int i = 0; i < 25; ++i) {
    s.push_back(i % 2 ? 0.8 : 0.2);
    l.push_back(i % 2);
  }
  const auto r = reportFromScores(s, l, 10, {0.5}, "scores.csv");
  EXPECT_EQ(r.protocol, "scores");
  EXPECT_EQ(r.pairs, 25);
  EXPECT_EQ(r.embedding_dim, 0);
  EXPECT_EQ(r.metrics.folds.size(), 10u);
  EXPECT_DOUBLE_EQ(r.metrics.accuracy_mean, 1.0);
  EXPECT_EQ(r.scores, s);
}

TEST(Verification, RocCsvMatchesRocCurve) {
  TempDir dir;
  const auto r = smallReport();
  const std::string path = dir.file("roc.csv");
  writeRocCsv(path, r.scores, r.labels);
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "far,tar,threshold");
  const auto roc = rocCurve(r.scores, r.labels);
  size_t rows = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(rows, roc.size());
    double far, tar, threshold;
    char c1, c2;
    std::istringstream(line) >> far >> c1 >> tar >> c2 >> threshold;
    EXPECT_DOUBLE_EQ(far, roc[rows].far);
    EXPECT_DOUBLE_EQ(tar, roc[rows].tar);
    EXPECT_DOUBLE_EQ(threshold, roc[rows].threshold);
    ++rows;
  }
  EXPECT_EQ(rows, roc.size());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  expectEvalError([&] { writeRocCsv(dir.file("no/such/dir/roc.csv"), r.scores, r.labels); },
                  {"cannot create"});
}

}  // namespace
}  // namespace l2face::eval
