// Tests of the verification metrics on hand-computed cases.
#include "l2face/eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "test_util.h"

namespace l2face::eval {
namespace {

using testing::expectEvalError;

// Two folds of four. Fold 0: + 0.9, + 0.7, - 0.4, - 0.2. Fold 1: + 0.8, + 0.5, - 0.6, - 0.1.
const std::vector<double> kScores = {0.9, 0.7, 0.4, 0.2, 0.8, 0.5, 0.6, 0.1};
const std::vector<int> kLabels = {1, 1, 0, 0, 1, 1, 0, 0};
const std::vector<int> kFolds = {0, 0, 0, 0, 1, 1, 1, 1};

TEST(Metrics, KFoldPicksThresholdOnOtherFoldsByHand) {
  // Fold 0 held out, train on fold 1 (sorted 0.1- 0.5+ 0.6- 0.8+): candidates -0.9: 2/4,
  // 0.3: 3/4, 0.55: 2/4, 0.7: 3/4, 1.8: 2/4 -> tie 0.3 / 0.7, smallest wins: 0.3.
  // On fold 0 at 0.3: 0.9+ 0.7+ accepted, 0.4- accepted (wrong), 0.2- rejected -> 3/4.
  // Fold 1 held out, train on fold 0 (0.2- 0.4- 0.7+ 0.9+): 0.55 separates it (4/4).
  // On fold 1 at 0.55: 0.8+ ok, 0.5+ rejected (wrong), 0.6- accepted (wrong), 0.1- ok -> 2/4.
  const auto m = computeMetrics(kScores, kLabels, kFolds, {});
  ASSERT_EQ(m.folds.size(), 2u);
  EXPECT_NEAR(m.folds[0].threshold, 0.3, 1e-12);
  EXPECT_DOUBLE_EQ(m.folds[0].accuracy, 0.75);
  EXPECT_NEAR(m.folds[1].threshold, 0.55, 1e-12);
  EXPECT_DOUBLE_EQ(m.folds[1].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.accuracy_mean, 0.625);
  EXPECT_DOUBLE_EQ(m.accuracy_std, 0.125);  // population std of {0.75, 0.5}
  EXPECT_EQ(m.positives, 4);
  EXPECT_EQ(m.negatives, 4);
}

TEST(Metrics, KFoldOrdersByFoldIdWhateverTheIds) {
  const auto results = kFoldAccuracy(kScores, kLabels, {7, 7, 7, 7, 3, 3, 3, 3});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_NEAR(results[0].threshold, 0.55, 1e-12);  // fold id 3 (= fold 1 above) comes first
  EXPECT_DOUBLE_EQ(results[0].accuracy, 0.5);
  EXPECT_NEAR(results[1].threshold, 0.3, 1e-12);
  EXPECT_DOUBLE_EQ(results[1].accuracy, 0.75);
}

TEST(Metrics, ContiguousFoldsCutLikeSklearnKFold) {
  // KFold(10) on 25: fold sizes 3,3,3,3,3,2,2,2,2,2 in order.
  const auto f = contiguousFolds(25, 10);
  const std::vector<int> expected = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4,
                                     4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9};
  EXPECT_EQ(f, expected);
  // LFW's 6000 pairs: 600 per fold, fold = i / 600.
  const auto lfw = contiguousFolds(6000, 10);
  for (int i = 0; i < 6000; i += 599) EXPECT_EQ(lfw[i], i / 600) << i;
  EXPECT_EQ(contiguousFolds(3, 10), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(contiguousFolds(0, 10).empty());
  expectEvalError([] { contiguousFolds(5, 0); }, {"k must be >= 1"});
}

TEST(Metrics, SingleFoldTrainsOnItself) {
  // All eight sorted: 0.1- 0.2- 0.4- 0.5+ 0.6- 0.7+ 0.8+ 0.9+; correct counts per candidate:
  // 4 5 6 7(0.45) 6 7(0.65) 6 5 4 -> smallest of the best: 0.45, accuracy 7/8.
  for (const auto& folds : {std::vector<int>{}, std::vector<int>(8, 4)}) {
    const auto m = computeMetrics(kScores, kLabels, folds, {});
    ASSERT_EQ(m.folds.size(), 1u);
    EXPECT_NEAR(m.folds[0].threshold, 0.45, 1e-12);
    EXPECT_DOUBLE_EQ(m.accuracy_mean, 0.875);
    EXPECT_DOUBLE_EQ(m.accuracy_std, 0.0);
  }
}

TEST(Metrics, BestThresholdOutsideRangeWhenOneClass) {
  EXPECT_DOUBLE_EQ(bestThreshold({0.2, 0.5}, {0, 0}), 1.5);    // above max: reject all
  EXPECT_DOUBLE_EQ(bestThreshold({0.2, 0.5}, {1, 1}), -0.8);   // below min: accept all
  EXPECT_DOUBLE_EQ(bestThreshold({-3.0, 4.0}, {1, 1}), -6.0);  // margin scales with |min|
  EXPECT_NEAR(bestThreshold({0.1, 0.3, 0.6, 0.9}, {0, 0, 1, 1}), 0.45, 1e-12);
}

TEST(Metrics, TarAtFarExactWithTiesAndUnmeasurable) {
  // 10 negatives, two tied at 0.8; 5 positives.
  const std::vector<double> neg = {0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};
  const std::vector<double> pos = {0.95, 0.85, 0.8, 0.75, 0.65};
  std::vector<double> scores = neg;
  scores.insert(scores.end(), pos.begin(), pos.end());
  std::vector<int> labels(neg.size(), 0);
  labels.resize(scores.size(), 1);
  const auto r = tarAtFar(scores, labels, {0.1, 0.2, 0.25, 0.3, 0.05, 1.0});
  ASSERT_EQ(r.size(), 6u);
  // FAR 0.1: k = 1, threshold = 2nd highest negative 0.8; positives > 0.8: 0.95, 0.85.
  EXPECT_TRUE(r[0].measurable);
  EXPECT_DOUBLE_EQ(r[0].threshold, 0.8);
  EXPECT_DOUBLE_EQ(r[0].tar, 0.4);
  // FAR 0.2: k = 2, 3rd highest negative is the tied 0.8: strict acceptance lets only one
  // negative through (ties count against us), so TAR stays 0.4 (the positive at 0.8 is rejected).
  EXPECT_DOUBLE_EQ(r[1].threshold, 0.8);
  EXPECT_DOUBLE_EQ(r[1].tar, 0.4);
  // FAR 0.25: k = floor(2.5) = 2, same as 0.2.
  EXPECT_DOUBLE_EQ(r[2].threshold, 0.8);
  EXPECT_DOUBLE_EQ(r[2].tar, 0.4);
  // FAR 0.3: k = 3, threshold = 4th highest negative 0.7; positives > 0.7: four of five.
  EXPECT_DOUBLE_EQ(r[3].threshold, 0.7);
  EXPECT_DOUBLE_EQ(r[3].tar, 0.8);
  // FAR 0.05: 0.05 * 10 = 0.5 < 1 false accept allowed: not measurable.
  EXPECT_FALSE(r[4].measurable);
  EXPECT_TRUE(std::isnan(r[4].tar));
  EXPECT_DOUBLE_EQ(r[4].far, 0.05);
  // FAR 1: everything accepted.
  EXPECT_TRUE(r[5].measurable);
  EXPECT_DOUBLE_EQ(r[5].tar, 1.0);
  EXPECT_LT(r[5].threshold, 0.1);
}

TEST(Metrics, TarAtFarProductNearIntegerCountsAsInteger) {
  // 0.7 * 90 is 62.99999999999999 in doubles; 63 false accepts must still be allowed.
  std::vector<double> scores;
  std::vector<int> labels;
  for (int i = 0; i < 90; ++i) scores.push_back(i), labels.push_back(0);
  scores.push_back(26.5), labels.push_back(1);  // between the 64th and 63rd highest negatives
  const auto r = tarAtFar(scores, labels, {0.7, 0.01});
  EXPECT_DOUBLE_EQ(r[0].threshold, 26.0);  // 64th highest negative (89 - 63)
  EXPECT_DOUBLE_EQ(r[0].tar, 1.0);
  EXPECT_FALSE(r[1].measurable);  // 0.9 false accepts
}

TEST(Metrics, RocEerAucOnSmallCaseByHand) {
  // + 0.9, - 0.7, - 0.6, + 0.5, - 0.1 (P = 2, N = 3).
  const std::vector<double> s = {0.9, 0.7, 0.6, 0.5, 0.1};
  const std::vector<int> l = {1, 0, 0, 1, 0};
  const auto roc = rocCurve(s, l);
  const std::vector<RocPoint> expected = {{0, 0, 0.9},        {0, 0.5, 0.7},    {1. / 3, 0.5, 0.6},
                                          {2. / 3, 0.5, 0.5}, {2. / 3, 1, 0.1}, {1, 1, 0.1 - 1}};
  ASSERT_EQ(roc.size(), expected.size());
  for (size_t i = 0; i < roc.size(); ++i) {
    EXPECT_NEAR(roc[i].far, expected[i].far, 1e-12) << i;
    EXPECT_NEAR(roc[i].tar, expected[i].tar, 1e-12) << i;
    EXPECT_NEAR(roc[i].threshold, expected[i].threshold, 1e-12) << i;
  }
  // FAR - FRR: -1/6 at (1/3, 0.5), +1/6 at (2/3, 0.5): halfway, FAR = FRR = 0.5, threshold 0.55.
  const auto eer = equalErrorRate(roc);
  EXPECT_NEAR(eer.eer, 0.5, 1e-12);
  EXPECT_NEAR(eer.threshold, 0.55, 1e-12);
  // Trapezoids: 1/6 + 1/6 + 1/3 = 2/3; ranks: 0.9 beats 3 negatives, 0.5 beats 1 -> 4/6.
  EXPECT_NEAR(rocAuc(roc), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(rankAuc(s, l), 2.0 / 3.0, 1e-12);
}

TEST(Metrics, EerExactlyOnAPoint) {
  // + 0.9, - 0.7, + 0.6, + 0.4, - 0.3, - 0.2: ROC passes (1/3, 2/3) at threshold 0.4 where
  // FAR = FRR = 1/3. AUC: 3 + 2 + 2 = 7 of 9 pairs ordered right.
  const std::vector<double> s = {0.9, 0.7, 0.6, 0.4, 0.3, 0.2};
  const std::vector<int> l = {1, 0, 1, 1, 0, 0};
  const auto m = computeMetrics(s, l, {}, {});
  EXPECT_NEAR(m.eer, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.eer_threshold, 0.4, 1e-12);
  EXPECT_NEAR(m.auc, 7.0 / 9.0, 1e-12);
}

TEST(Metrics, AucCountsTiesAsHalf) {
  // + 0.8 beats both; each + 0.5 ties - 0.5 (1/2) and beats - 0.2 -> (2 + 1.5 + 1.5) / 6.
  const std::vector<double> s = {0.8, 0.5, 0.5, 0.5, 0.2};
  const std::vector<int> l = {1, 1, 1, 0, 0};
  EXPECT_NEAR(rocAuc(rocCurve(s, l)), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(rankAuc(s, l), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(rankAuc({0.5, 0.5}, {1, 0}), 0.5, 1e-12);
}

TEST(Metrics, TrapezoidAucEqualsRankStatisticOnRandomTiedScores) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> s;
  std::vector<int> l;
  for (int i = 0; i < 400; ++i) {
    const int label = i % 3 == 0;
    s.push_back(std::round((noise(rng) + label) * 4) / 4);  // coarse grid: many ties
    l.push_back(label);
  }
  double wins = 0;  // brute force: every positive against every negative
  int64_t p = 0, n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    p += l[i];
    n += !l[i];
    for (size_t j = 0; j < s.size(); ++j) {
      if (l[i] == 1 && l[j] == 0) wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    }
  }
  const double brute = wins / static_cast<double>(p * n);
  EXPECT_NEAR(rocAuc(rocCurve(s, l)), brute, 1e-12);
  EXPECT_NEAR(rankAuc(s, l), brute, 1e-12);
}

TEST(Metrics, PerfectSeparationAndReversedScores) {
  const std::vector<double> s = {0.9, 0.8, 0.7, 0.6, 0.3, 0.2, 0.1, 0.0};
  const std::vector<int> l = {1, 1, 1, 1, 0, 0, 0, 0};
  const std::vector<int> folds = {0, 1, 0, 1, 0, 1, 0, 1};
  const auto m = computeMetrics(s, l, folds, {0.25, 0.5});
  EXPECT_DOUBLE_EQ(m.accuracy_mean, 1.0);
  EXPECT_DOUBLE_EQ(m.accuracy_std, 0.0);
  EXPECT_DOUBLE_EQ(m.auc, 1.0);
  EXPECT_DOUBLE_EQ(m.eer, 0.0);
  EXPECT_DOUBLE_EQ(m.eer_threshold, 0.3);  // accept > highest negative
  for (const auto& t : m.tar_at_far) EXPECT_DOUBLE_EQ(t.tar, 1.0);

  std::vector<int> reversed(l.size());
  for (size_t i = 0; i < l.size(); ++i) reversed[i] = 1 - l[i];
  const auto r = computeMetrics(s, reversed, folds, {});
  EXPECT_DOUBLE_EQ(r.auc, 0.0);
  EXPECT_DOUBLE_EQ(r.eer, 1.0);
  EXPECT_DOUBLE_EQ(rankAuc(s, reversed), 0.0);
}

TEST(Metrics, InvalidInputsThrowWithClearText) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expectEvalError([] { computeMetrics({0.1, 0.2}, {1}, {}, {}); }, {"2 scores but 1 labels"});
  expectEvalError([] { computeMetrics({0.1, 0.2}, {1, 1}, {}, {}); }, {"no negative pairs"});
  expectEvalError([] { computeMetrics({0.1, 0.2}, {0, 0}, {}, {}); }, {"no positive pairs"});
  expectEvalError([&] { computeMetrics({0.1, nan}, {1, 0}, {}, {}); }, {"index 1", "NaN"});
  expectEvalError([] { computeMetrics({0.1, 0.2}, {1, 2}, {}, {}); }, {"label 2", "index 1"});
  expectEvalError([] { computeMetrics({0.1, 0.2}, {1, 0}, {0, 1, 2}, {}); }, {"3 fold ids"});
  expectEvalError([] { computeMetrics({0.1, 0.2}, {1, 0}, {}, {1.5}); }, {"outside (0, 1]"});
  expectEvalError([] { computeMetrics({}, {}, {}, {}); }, {"no scores"});
}

}  // namespace
}  // namespace l2face::eval
