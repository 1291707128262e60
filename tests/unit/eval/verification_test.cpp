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
  EXPECT_NE(table.find("n/a"), std::string::npos) << table;
  EXPECT_NE(table.find("33.333%"), std::string::npos) << table;  // EER
  EXPECT_NE(table.find("0.77778"), std::string::npos) << table;  // AUC
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
