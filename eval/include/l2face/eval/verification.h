// Running a pair-verification protocol through an embedder callback, and reporting it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "l2face/eval/metrics.h"
#include "l2face/eval/pairs.h"

namespace l2face::eval {

// Embeds a batch: must leave exactly paths.size() × dim floats in `out`, row-major, one row per
// path in order (the embedder sums flipped views itself when configured). Rows need not be
// normalised; the eval module L2-normalises. Exceptions it throws propagate out of runPairs.
using Embedder =
    std::function<void(const std::vector<std::string>& paths, std::vector<float>& out)>;

struct VerificationReport {
  std::string name;
  VerificationMetrics metrics;
  int64_t pairs = 0;
  int embedding_dim = 0;
  double seconds = 0.0;  // wall time of runPairs: embedding + scoring + metrics
  // Per pair, in the order of the input pairs: cosine score and label (1 = same), kept so a
  // caller can write the ROC (writeRocCsv) or the scores without embedding again.
  std::vector<double> scores;
  std::vector<int> labels;
};

// Embeds every unique image once, in batches of at most batch_size (sorted path order), L2-
// normalises each embedding, scores each pair by cosine similarity, and computes the metrics with
// the folds of Pair::fold. Throws EvalError for empty pairs, dim/batch_size < 1, an embedder that
// returns the wrong number of floats, or an embedding that is non-finite or zero (naming the
// image). Not thread-safe with respect to `embed`: it is called from the calling thread only.
VerificationReport runPairs(const std::vector<Pair>& pairs, const Embedder& embed, int dim,
                            int batch_size, const std::vector<double>& fars,
                            const std::string& name);

// Pretty JSON: name, pairs, positives, negatives, accuracy_mean, accuracy_std,
// folds [{threshold, accuracy}], tar_at_far [{far, tar, threshold}] (tar and threshold null when
// not measurable), eer, eer_threshold, auc, embedding_dim, seconds. Rates are fractions in [0, 1].
std::string reportJson(const VerificationReport& report);

// A short aligned console table: accuracy mean ± std in %, TAR at each FAR, EER, AUC.
std::string reportTable(const VerificationReport& report);

// Writes the ROC (rocCurve) as CSV `far,tar,threshold`, atomically (temp file, then rename).
void writeRocCsv(const std::string& path, const std::vector<double>& scores,
                 const std::vector<int>& labels);

}  // namespace l2face::eval
