// Cross-checks computeMetrics against an independent numpy implementation (metrics_oracle.py).
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "l2face/eval/metrics.h"
#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::runCommand;

TEST(NumpyOracle, MetricsAgreeWithNumpyOnRandomTiedScores) {
  const std::string python = testing::numpyPython();
  const std::string script = std::string(L2FACE_SOURCE_DIR) + "/tests/unit/eval/metrics_oracle.py";
  if (python.empty()) GTEST_SKIP() << "no .venv Python with numpy";

  // 1200 pairs, a third positive, scores on a 0.01 grid (ties within and across classes),
  // fold ids scattered (not contiguous, not 0-based).
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0.0, 0.25);
  std::uniform_int_distribution<int> fold_of(0, 9);
  std::vector<double> scores;
  std::vector<int> labels, folds;
  for (int i = 0; i < 1200; ++i) {
    const int label = i % 3 == 0;
    scores.push_back(std::round((0.2 + 0.4 * label + noise(rng)) * 100) / 100);
    labels.push_back(label);
    folds.push_back(3 + 2 * fold_of(rng));
  }
  const std::vector<double> fars = {1e-3, 2e-3, 1e-2, 0.1, 0.5, 1.0};

  testing::TempDir dir;
  const std::string data = dir.file("scores.txt");
  {
    FILE* f = fopen(data.c_str(), "w");
    ASSERT_NE(f, nullptr);
    for (size_t i = 0; i < scores.size(); ++i) {
      fprintf(f, "%.17g %d %d\n", scores[i], labels[i], folds[i]);
    }
    fclose(f);
  }
  std::string command = "'" + python + "' '" + script + "' '" + data + "'";
  for (double far : fars) command += " " + std::to_string(far);
  const auto [status, output] = runCommand(command);
  ASSERT_EQ(status, 0) << output;
  const auto oracle = nlohmann::json::parse(output);

  const auto m = computeMetrics(scores, labels, folds, fars);
  ASSERT_EQ(m.folds.size(), oracle["folds"].size());
  for (size_t i = 0; i < m.folds.size(); ++i) {
    EXPECT_NEAR(m.folds[i].threshold, oracle["folds"][i]["threshold"].get<double>(), 1e-12) << i;
    EXPECT_DOUBLE_EQ(m.folds[i].accuracy, oracle["folds"][i]["accuracy"].get<double>()) << i;
  }
  EXPECT_NEAR(m.accuracy_mean, oracle["accuracy_mean"].get<double>(), 1e-12);
  EXPECT_NEAR(m.accuracy_std, oracle["accuracy_std"].get<double>(), 1e-12);
  ASSERT_EQ(m.tar_at_far.size(), fars.size());
  for (size_t i = 0; i < fars.size(); ++i) {
    const auto& expected = oracle["tar_at_far"][i];
    EXPECT_EQ(m.tar_at_far[i].measurable, !expected.is_null()) << fars[i];
    if (expected.is_null()) continue;
    EXPECT_DOUBLE_EQ(m.tar_at_far[i].tar, expected["tar"].get<double>()) << fars[i];
    EXPECT_DOUBLE_EQ(m.tar_at_far[i].threshold, expected["threshold"].get<double>()) << fars[i];
  }
  EXPECT_NEAR(m.auc, oracle["auc"].get<double>(), 1e-12);
  EXPECT_NEAR(m.eer, oracle["eer"].get<double>(), 1e-12);
  EXPECT_NEAR(m.eer_threshold, oracle["eer_threshold"].get<double>(), 1e-12);
}

}  // namespace
}  // namespace l2face::eval
