// Verification metrics over similarity scores: k-fold accuracy, TAR@FAR, ROC, EER, AUC.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace l2face::eval {

// Conventions for every function here (pure functions, thread-safe):
//  - a higher score means "more similar"; labels are 1 (same identity) or 0 (different);
//  - a threshold t accepts a pair iff score > t (strict), everywhere, so thresholds reported by
//    one function can be fed to another;
//  - invalid input (sizes differ, a label not 0/1, no positive or no negative, a non-finite score)
//    throws EvalError.

// Threshold chosen on the training folds and the accuracy it gives on the held-out fold.
struct FoldResult {
  double threshold = 0.0;
  double accuracy = 0.0;
};

// False accepts a FAR must allow (far·negatives) before its TAR counts as resolved: a rate that
// rests on fewer than 10 impostor scores moves by whole steps of 1/10 of the FAR when one of
// them moves, so a TAR at FAR f wants at least 10/f negatives.
inline constexpr int64_t kResolvedFalseAccepts = 10;

// TAR at one target FAR. `measurable` is false when far·negatives < 1: no threshold can be
// justified from fewer than one allowed false accept; tar and threshold are then NaN.
struct TarAtFar {
  double far = 0.0;
  bool measurable = false;
  double tar = 0.0;
  double threshold = 0.0;
  // Negatives scoring above the threshold (at most floor(far·negatives); 0 when not measurable).
  int64_t false_accepts = 0;
  // far·negatives >= kResolvedFalseAccepts (same integer tolerance as tarAtFar's count).
  bool resolved = false;
};

// One ROC point: the rates obtained when accepting score > threshold.
struct RocPoint {
  double far = 0.0;  // false accepts / negatives
  double tar = 0.0;  // true accepts / positives
  double threshold = 0.0;
};

// Equal error rate, where FAR = FRR (= 1 - TAR).
struct EqualErrorRate {
  double eer = 0.0;
  double threshold = 0.0;
};

struct VerificationMetrics {
  int64_t positives = 0;
  int64_t negatives = 0;
  double accuracy_mean = 0.0;        // mean of the per-fold held-out accuracies
  double accuracy_std = 0.0;         // population standard deviation of the same
  std::vector<FoldResult> folds;     // one per distinct fold id, ascending id
  std::vector<TarAtFar> tar_at_far;  // one per requested FAR, in request order
  double eer = 0.0;
  double eer_threshold = 0.0;
  double auc = 0.0;
};

// Everything at once. `folds` gives each sample's fold id (any ints; empty = one fold).
// k-fold accuracy, per distinct fold id f: the threshold maximising accuracy on the samples of
// all other folds is applied to fold f. With a single fold there are no other folds, so the best
// threshold on the fold itself is used: that accuracy is optimistic (train = test).
VerificationMetrics computeMetrics(const std::vector<double>& scores,
                                   const std::vector<int>& labels, const std::vector<int>& folds,
                                   const std::vector<double>& fars);

// computeMetrics without the k-fold part (folds empty, accuracy 0): for a protocol whose accuracy
// is measured on other samples than its rates (all-vs-all: folds of identities).
VerificationMetrics rateMetrics(const std::vector<double>& scores, const std::vector<int>& labels,
                                const std::vector<double>& fars);

// Stores per-fold results in `m`: folds, their mean accuracy and population standard deviation.
void setFoldAccuracy(VerificationMetrics& m, std::vector<FoldResult> folds);

// The threshold that maximises accuracy on (scores, labels). Candidates: every midpoint between
// consecutive distinct sorted scores, plus one below the minimum (min - max(1, |min|): accept
// all) and one above the maximum (max + max(1, |max|): reject all). Ties in accuracy go to the
// smallest candidate. Needs no positive or negative to be present, but at least one sample.
double bestThreshold(const std::vector<double>& scores, const std::vector<int>& labels);

// Fold ids for n samples kept in file order, cut into k contiguous blocks the way
// sklearn.model_selection.KFold(n_splits=k, shuffle=False) cuts them (insightface's .bin
// evaluation): the first n mod k folds hold floor(n/k) + 1 samples, the others floor(n/k).
// With n < k only n folds exist. Used for .bin sets, plain pair lists, template pairs and score
// files. Throws EvalError for k < 1 or n < 0.
std::vector<int> contiguousFolds(int64_t n, int k);

// The k-fold part of computeMetrics: one FoldResult per distinct fold id, ascending.
std::vector<FoldResult> kFoldAccuracy(const std::vector<double>& scores,
                                      const std::vector<int>& labels,
                                      const std::vector<int>& folds);

// TAR at each FAR in (0, 1]. With N negatives, k = floor(far·N) false accepts are allowed; the
// threshold is the (k+1)-th highest negative score, so that with strict acceptance at most k
// negatives pass, fewer when negatives tie at the threshold (ties count against us). TAR is the
// fraction of positives scoring above the threshold. k >= N accepts everything (threshold below
// every score). k = 0 (far·N < 1): measurable = false. A product within 1e-9 of an integer
// counts as that integer: far = 0.7 with N = 90 (62.999... in doubles) allows 63, not 62.
// false_accepts counts the negatives above the threshold; resolved is k >= kResolvedFalseAccepts.
std::vector<TarAtFar> tarAtFar(const std::vector<double>& scores, const std::vector<int>& labels,
                               const std::vector<double>& fars);

// ROC at every distinct threshold, from (0, 0) to (1, 1). With distinct scores v1 > v2 > ... > vm:
// point 0 has threshold v1 (nothing accepted), point i (0 < i < m) threshold v(i+1) (accepts every
// score >= vi), point m a threshold below vm (everything accepted; same rule as bestThreshold).
std::vector<RocPoint> rocCurve(const std::vector<double>& scores, const std::vector<int>& labels);

// EER from a ROC: FAR - FRR rises strictly along the curve; the crossing is interpolated
// linearly (rates and threshold) between the two neighbouring points.
EqualErrorRate equalErrorRate(const std::vector<RocPoint>& roc);

// Area under the ROC by the trapezoid rule.
double rocAuc(const std::vector<RocPoint>& roc);

// AUC as a rank statistic: P(positive score > negative score) + ½ P(equal), by mid-ranks
// (Mann-Whitney U). Equals rocAuc(rocCurve(...)); kept as an independent computation.
double rankAuc(const std::vector<double>& scores, const std::vector<int>& labels);

// Reads `label,score` lines (label 0/1, optional header line such as `label,score`, blank lines
// ignored). Returns (label, score) pairs in file order. Throws EvalError naming file:line.
std::vector<std::pair<int, double>> readScoresCsv(const std::string& path);

}  // namespace l2face::eval
