// Verification metrics: k-fold accuracy, TAR@FAR, ROC, EER and AUC (rules in metrics.h).
#include "l2face/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "l2face/eval/errors.h"

namespace l2face::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sizes, labels in {0, 1}, finite scores; returns the number of positives.
int64_t validate(const char* fn, const std::vector<double>& scores,
                 const std::vector<int>& labels) {
  if (scores.size() != labels.size()) {
    throw EvalError(std::string(fn) + ": " + std::to_string(scores.size()) + " scores but " +
                    std::to_string(labels.size()) + " labels");
  }
  if (scores.empty()) throw EvalError(std::string(fn) + ": no scores");
  int64_t positives = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1) {
      throw EvalError(std::string(fn) + ": label " + std::to_string(labels[i]) + " at index " +
                      std::to_string(i) + " is not 0 or 1");
    }
    if (!std::isfinite(scores[i])) {
      throw EvalError(std::string(fn) + ": score at index " + std::to_string(i) + " is " +
                      (std::isnan(scores[i]) ? "NaN" : "infinite") +
                      " (an embedding with NaN/zero norm upstream?)");
    }
    positives += labels[i];
  }
  return positives;
}

// Rates need both classes; the message says which one is missing.
void requireBothClasses(const char* fn, int64_t positives, int64_t negatives) {
  if (positives == 0) throw EvalError(std::string(fn) + ": no positive pairs (all labels are 0)");
  if (negatives == 0) throw EvalError(std::string(fn) + ": no negative pairs (all labels are 1)");
}

// Thresholds just outside the score range; finite so they survive JSON.
double belowMin(double v) { return v - std::max(1.0, std::abs(v)); }
double aboveMax(double v) { return v + std::max(1.0, std::abs(v)); }

// Indices by score, ties in index order (a stable sort's result). Sorting (key, index) pairs keeps
// the comparisons in cache, several times faster than comparing through the index on millions.
std::vector<size_t> orderByScore(const std::vector<double>& scores, bool descending) {
  std::vector<std::pair<double, size_t>> keyed(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) keyed[i] = {descending ? -scores[i] : scores[i], i};
  std::sort(keyed.begin(), keyed.end());
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = keyed[i].second;
  return order;
}

// bestThreshold's sweep over the samples in `order` (ascending scores, non-empty), of which
// `positives` are positive.
double sweepBestThreshold(const std::vector<double>& scores, const std::vector<int>& labels,
                          const std::vector<size_t>& order, int64_t positives) {
  // Sweep the candidates upwards. Below the minimum everything is accepted: the positives are
  // right. Passing a group of equal scores rejects it: its negatives become right, positives wrong.
  int64_t correct = positives;
  int64_t best = correct;
  double best_threshold = belowMin(scores[order.front()]);
  for (size_t i = 0; i < order.size();) {
    const double v = scores[order[i]];
    size_t j = i;
    for (; j < order.size() && scores[order[j]] == v; ++j) correct += labels[order[j]] ? -1 : 1;
    double candidate;
    if (j < order.size()) {
      const double next = scores[order[j]];
      candidate = v + (next - v) / 2;
      // Adjacent doubles: the midpoint may round up to `next`, which would reject it too.
      if (candidate >= next) candidate = v;
    } else {
      candidate = aboveMax(v);
    }
    if (correct > best) {  // strict: ties keep the smaller threshold
      best = correct;
      best_threshold = candidate;
    }
    i = j;
  }
  return best_threshold;
}

}  // namespace

double bestThreshold(const std::vector<double>& scores, const std::vector<int>& labels) {
  const int64_t positives = validate("bestThreshold", scores, labels);
  return sweepBestThreshold(scores, labels, orderByScore(scores, /*descending=*/false), positives);
}

std::vector<int> contiguousFolds(int64_t n, int k) {
  if (k < 1) throw EvalError("contiguousFolds: k must be >= 1, got " + std::to_string(k));
  if (n < 0) throw EvalError("contiguousFolds: n must be >= 0, got " + std::to_string(n));
  std::vector<int> folds(static_cast<size_t>(n));
  const int64_t base = n / k, larger = n % k;  // the first `larger` folds get one more sample
  int64_t i = 0;
  for (int f = 0; f < k && i < n; ++f) {
    const int64_t size = base + (f < larger ? 1 : 0);
    for (int64_t j = 0; j < size; ++j) folds[static_cast<size_t>(i++)] = f;
  }
  return folds;
}

std::vector<FoldResult> kFoldAccuracy(const std::vector<double>& scores,
                                      const std::vector<int>& labels,
                                      const std::vector<int>& folds) {
  validate("kFoldAccuracy", scores, labels);
  if (!folds.empty() && folds.size() != scores.size()) {
    throw EvalError("kFoldAccuracy: " + std::to_string(scores.size()) + " scores but " +
                    std::to_string(folds.size()) + " fold ids");
  }
  std::vector<int> ids = folds.empty() ? std::vector<int>{0} : folds;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  auto foldOf = [&](size_t i) { return folds.empty() ? 0 : folds[i]; };

  // One sort for all folds: each fold's training samples are the global order without it.
  const std::vector<size_t> order = orderByScore(scores, /*descending=*/false);
  std::vector<FoldResult> results;
  for (int id : ids) {
    std::vector<size_t> train;
    train.reserve(order.size());
    int64_t train_positives = 0;
    for (size_t i : order) {
      // One fold only: train on the fold itself (documented as optimistic).
      if (foldOf(i) != id || ids.size() == 1) {
        train.push_back(i);
        train_positives += labels[i] == 1;
      }
    }
    FoldResult result;
    result.threshold = sweepBestThreshold(scores, labels, train, train_positives);
    int64_t correct = 0, count = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (foldOf(i) != id) continue;
      ++count;
      correct += (scores[i] > result.threshold) == (labels[i] == 1);
    }
    result.accuracy = static_cast<double>(correct) / static_cast<double>(count);
    results.push_back(result);
  }
  return results;
}

std::vector<TarAtFar> tarAtFar(const std::vector<double>& scores, const std::vector<int>& labels,
                               const std::vector<double>& fars) {
  const int64_t positives = validate("tarAtFar", scores, labels);
  const int64_t negatives = static_cast<int64_t>(scores.size()) - positives;
  requireBothClasses("tarAtFar", positives, negatives);
  std::vector<double> neg, pos;
  for (size_t i = 0; i < scores.size(); ++i) (labels[i] ? pos : neg).push_back(scores[i]);
  std::sort(neg.begin(), neg.end(), std::greater<>());
  std::sort(pos.begin(), pos.end());
  const double lowest = std::min(neg.back(), pos.front());

  std::vector<TarAtFar> results;
  for (double far : fars) {
    if (!(far > 0.0 && far <= 1.0)) {
      throw EvalError("tarAtFar: FAR " + std::to_string(far) + " is outside (0, 1]");
    }
    TarAtFar r;
    r.far = far;
    const auto allowed = static_cast<int64_t>(std::floor(far * negatives + 1e-9));
    r.resolved = allowed >= kResolvedFalseAccepts;
    if (allowed == 0) {
      r.measurable = false;
      r.tar = kNaN;
      r.threshold = kNaN;
    } else if (allowed >= negatives) {
      r.measurable = true;
      r.threshold = belowMin(lowest);
      r.tar = 1.0;
      r.false_accepts = negatives;
    } else {
      r.measurable = true;
      r.threshold = neg[allowed];  // the (k+1)-th highest negative
      const auto above = pos.end() - std::upper_bound(pos.begin(), pos.end(), r.threshold);
      r.tar = static_cast<double>(above) / static_cast<double>(positives);
      // neg is descending: the negatives above the threshold are a prefix of it.
      r.false_accepts = std::partition_point(neg.begin(), neg.begin() + allowed,
                                             [&](double v) { return v > r.threshold; }) -
                        neg.begin();
    }
    results.push_back(r);
  }
  return results;
}

std::vector<RocPoint> rocCurve(const std::vector<double>& scores, const std::vector<int>& labels) {
  const int64_t positives = validate("rocCurve", scores, labels);
  const int64_t negatives = static_cast<int64_t>(scores.size()) - positives;
  requireBothClasses("rocCurve", positives, negatives);
  const auto order = orderByScore(scores, /*descending=*/true);
  const double p = static_cast<double>(positives), n = static_cast<double>(negatives);

  std::vector<RocPoint> roc;
  roc.push_back({0.0, 0.0, scores[order.front()]});
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {
    const double v = scores[order[i]];
    size_t j = i;
    for (; j < order.size() && scores[order[j]] == v; ++j) (labels[order[j]] ? tp : fp) += 1;
    // Accepting every score >= v is "score > the next lower distinct score".
    const double threshold = j < order.size() ? scores[order[j]] : belowMin(v);
    roc.push_back({fp / n, tp / p, threshold});
    i = j;
  }
  return roc;
}

EqualErrorRate equalErrorRate(const std::vector<RocPoint>& roc) {
  // d = FAR - FRR = far + tar - 1 rises strictly along the curve (each point accepts more).
  auto d = [&](size_t i) { return roc[i].far + roc[i].tar - 1.0; };
  for (size_t i = 0; i < roc.size(); ++i) {
    if (d(i) < 0.0) continue;
    if (i == 0) return {roc[0].far, roc[0].threshold};
    const double alpha = -d(i - 1) / (d(i) - d(i - 1));
    const RocPoint& a = roc[i - 1];
    const RocPoint& b = roc[i];
    return {a.far + alpha * (b.far - a.far), a.threshold + alpha * (b.threshold - a.threshold)};
  }
  throw EvalError("equalErrorRate: the ROC never reaches FAR = FRR (incomplete curve?)");
}

double rocAuc(const std::vector<RocPoint>& roc) {
  double area = 0.0;
  for (size_t i = 1; i < roc.size(); ++i) {
    area += (roc[i].far - roc[i - 1].far) * (roc[i].tar + roc[i - 1].tar) / 2.0;
  }
  return area;
}

double rankAuc(const std::vector<double>& scores, const std::vector<int>& labels) {
  const int64_t positives = validate("rankAuc", scores, labels);
  const int64_t negatives = static_cast<int64_t>(scores.size()) - positives;
  requireBothClasses("rankAuc", positives, negatives);
  const auto order = orderByScore(scores, /*descending=*/false);
  // Mann-Whitney U with mid-ranks: a tie between a positive and a negative counts one half.
  double positive_rank_sum = 0.0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) positive_rank_sum += labels[order[k]] * mid_rank;
    i = j;
  }
  const double p = static_cast<double>(positives), n = static_cast<double>(negatives);
  return (positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n);
}

VerificationMetrics rateMetrics(const std::vector<double>& scores, const std::vector<int>& labels,
                                const std::vector<double>& fars) {
  VerificationMetrics m;
  m.positives = validate("computeMetrics", scores, labels);
  m.negatives = static_cast<int64_t>(scores.size()) - m.positives;
  requireBothClasses("computeMetrics", m.positives, m.negatives);
  m.tar_at_far = tarAtFar(scores, labels, fars);
  const auto roc = rocCurve(scores, labels);
  const auto eer = equalErrorRate(roc);
  m.eer = eer.eer;
  m.eer_threshold = eer.threshold;
  m.auc = rocAuc(roc);
  return m;
}

void setFoldAccuracy(VerificationMetrics& m, std::vector<FoldResult> folds) {
  m.folds = std::move(folds);
  if (m.folds.empty()) {
    m.accuracy_mean = m.accuracy_std = 0.0;
    return;
  }
  double sum = 0.0;
  for (const auto& f : m.folds) sum += f.accuracy;
  m.accuracy_mean = sum / static_cast<double>(m.folds.size());
  double squares = 0.0;
  for (const auto& f : m.folds)
    squares += (f.accuracy - m.accuracy_mean) * (f.accuracy - m.accuracy_mean);
  m.accuracy_std = std::sqrt(squares / static_cast<double>(m.folds.size()));
}

VerificationMetrics computeMetrics(const std::vector<double>& scores,
                                   const std::vector<int>& labels, const std::vector<int>& folds,
                                   const std::vector<double>& fars) {
  VerificationMetrics m = rateMetrics(scores, labels, fars);
  setFoldAccuracy(m, kFoldAccuracy(scores, labels, folds));
  return m;
}

}  // namespace l2face::eval
