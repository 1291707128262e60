// Running a pair-verification protocol through an embedder callback, and reporting it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "l2face/eval/bin_set.h"
#include "l2face/eval/identification.h"
#include "l2face/eval/metrics.h"
#include "l2face/eval/pairs.h"
#include "l2face/eval/shards.h"

namespace l2face::eval {

// Embeds a batch: must leave exactly paths.size() × dim floats in `out`, row-major, one row per
// path in order (the embedder sums flipped views itself when configured). Rows need not be
// normalised; the eval module L2-normalises. Exceptions it throws propagate out of runPairs.
using Embedder =
    std::function<void(const std::vector<std::string>& paths, std::vector<float>& out)>;

// An encoded image held in memory (a .bin record), with a name for messages such as
// "lfw.bin images[17] (pair 8)": a decoder error should name it.
struct EncodedImage {
  const std::vector<uint8_t>* bytes = nullptr;
  std::string name;
};

// As Embedder, for images given as encoded bytes (decoding is the embedder's business).
using BytesEmbedder =
    std::function<void(const std::vector<EncodedImage>& images, std::vector<float>& out)>;

struct VerificationReport {
  std::string name;
  // "pairs", "bin", "templates", "all-vs-all", "ijb" or "scores" ("" = not said)
  std::string protocol;
  VerificationMetrics metrics;
  int64_t pairs = 0;
  int embedding_dim = 0;
  double seconds = 0.0;  // wall time of runPairs: embedding + scoring + metrics
  // Per pair, in the order of the input pairs: cosine score and label (1 = same), kept so a
  // caller can write the ROC (writeRocCsv) or the scores without embedding again.
  std::vector<double> scores;
  std::vector<int> labels;
  // 1:N searches (IJB sets with 1:N files): one per gallery.
  std::vector<IdentificationResult> identification;
  // All-vs-all sets (0 elsewhere): the folder's images and identities, and how many pairs the
  // k-fold accuracy was measured on (those whose two images lie in one fold of identities).
  int64_t images = 0;
  int64_t identities = 0;
  int64_t accuracy_pairs = 0;
};

// Embeds every unique image once, in batches of at most batch_size (sorted path order), L2-
// normalises each embedding, scores each pair by cosine similarity, and computes the metrics with
// the folds of Pair::fold. Throws EvalError for empty pairs, dim/batch_size < 1, an embedder that
// returns the wrong number of floats, or an embedding that is non-finite or zero (naming the
// image). Not thread-safe with respect to `embed`: it is called from the calling thread only.
// With shards.world > 1 (a collective call on every rank) each rank embeds its share of the
// batches; rank 0 returns the report, the others a report holding only the name.
VerificationReport runPairs(const std::vector<Pair>& pairs, const Embedder& embed, int dim,
                            int batch_size, const std::vector<double>& fars,
                            const std::string& name, const EmbedShards& shards = {});

// Embeds the images of a .bin set in file order (batches of at most batch_size; byte-identical
// images, which LFW-style sets hold many of, once: same bytes, same embedding), L2-normalises,
// scores pair i by the cosine of images 2i and 2i+1, and computes the metrics over `folds`
// contiguous folds (contiguousFolds: insightface's 10-fold split for folds = 10). Errors as
// runPairs; the embedder's images are named "<set file> images[i] (pair p)". `shards` as runPairs.
VerificationReport runBin(const BinSet& set, const BytesEmbedder& embed, int dim, int batch_size,
                          const std::vector<double>& fars, int folds, const std::string& name,
                          const EmbedShards& shards = {});

// The report of scores computed elsewhere (label 1 = same), metrics over `folds` contiguous
// folds; embedding_dim 0.
VerificationReport reportFromScores(std::vector<double> scores, std::vector<int> labels, int folds,
                                    const std::vector<double>& fars, const std::string& name);

// Pretty JSON: name, protocol, pairs, positives, negatives, accuracy_mean, accuracy_std,
// folds [{threshold, accuracy}], tar_at_far [{far, tar, threshold, impostors_above_threshold,
// resolved}] (tar, threshold and impostors_above_threshold null when not measurable; resolved:
// far·negatives >= kResolvedFalseAccepts), eer, eer_threshold, auc, embedding_dim, seconds, and
// roc {far, tar, threshold}: the points of rocCurve that plotRoc keeps (at most a few hundred; the
// whole curve goes to writeRocCsv), present when the report holds its scores. All-vs-all reports
// add images, identities, accuracy_folds ("identities") and accuracy_pairs after negatives.
// Rates are fractions in [0, 1].
std::string reportJson(const VerificationReport& report);

// Several reports as one JSON document: {"reports": [reportJson, ...]}.
std::string reportsJson(const std::vector<VerificationReport>& reports);

// A short aligned console table: accuracy mean ± std in %, TAR at each measurable FAR (marked
// "unresolved" where far·negatives < kResolvedFalseAccepts), one line for the FARs that need more
// negatives than the set has (and how many), EER, AUC. All-vs-all reports say genuine/impostor
// and their images, identities and the pairs the accuracy used.
std::string reportTable(const VerificationReport& report);

// Writes `text` to `path` atomically (temp file, fsync, rename), so a reader never sees half a
// file. Throws EvalError naming the path.
void writeTextFile(const std::string& path, const std::string& text);

// Writes per-pair `label,score` CSV (the input of readScoresCsv / `l2face eval --scores`), in pair
// order, scores printed exactly (%.17g), atomically.
void writeScoresCsv(const std::string& path, const std::vector<double>& scores,
                    const std::vector<int>& labels);

// Writes rows × dim floats as a NumPy .npy file (format 1.0, little-endian float32, C order),
// atomically: numpy.load reads it. Throws EvalError naming the path.
void writeNpy(const std::string& path, const std::vector<float>& values, size_t rows, int dim);

// Writes the ROC (rocCurve) as CSV `far,tar,threshold`, atomically (temp file, then rename).
void writeRocCsv(const std::string& path, const std::vector<double>& scores,
                 const std::vector<int>& labels);

}  // namespace l2face::eval
