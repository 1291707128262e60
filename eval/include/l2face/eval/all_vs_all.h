// All-vs-all verification over an ImageFolder tree: every pair of distinct images, genuine when
// both lie in one identity's folder; TAR at FARs that need millions of impostor comparisons.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "l2face/eval/shards.h"
#include "l2face/eval/verification.h"

namespace l2face::eval {

// The most comparisons an all-vs-all set may have: N(N-1)/2 <= 100M, i.e. at most 14,142 images.
// Scores, labels and the metrics' sorted copies peak at about 52 bytes per comparison (about
// 5 GB at the cap), and the metrics sort the scores several times (50M took 30 s on 2 cores).
inline constexpr int64_t kMaxAllVsAllComparisons = 100'000'000;

// The images of a folder tree `root/<identity>/<image>.jpg|.jpeg` (extension case ignored).
// Only sub-folders count as identities (files directly in root, such as pairs.txt, are ignored);
// hidden entries (".name") and sub-folders without images are skipped. Identities are sorted by
// name and each one's images by file name; images are listed identity by identity.
struct ImageFolderSet {
  std::string root;                     // the folder as given
  std::vector<std::string> identities;  // sub-folder names that hold images, sorted
  std::vector<std::string> images;      // root/identity/file, grouped by identity
  std::vector<int> identity;            // per image: its index into identities

  int64_t comparisons() const;   // N(N-1)/2 over the N images
  int64_t genuinePairs() const;  // sum over identities of n_i(n_i-1)/2
};

// Reads the tree under `root`. Throws EvalError naming the folder (and the counts) when it does
// not exist or is not a folder, holds no image in any sub-folder, has fewer than 2 identities,
// has no identity with 2 images (no genuine pair), or when N(N-1)/2 exceeds
// kMaxAllVsAllComparisons.
ImageFolderSet readImageFolder(const std::string& root);

// "all-vs-all:<name of root>" (a trailing '/' ignored).
std::string allVsAllName(const std::string& root);

// Position of pair (i, j), i < j < n, in the all-vs-all order (0,1), (0,2) ... (0,n-1), (1,2) ...
inline int64_t allVsAllIndex(int64_t i, int64_t j, int64_t n) {
  return i * n - i * (i + 1) / 2 + (j - i - 1);
}

// Scores of every pair i < j of the n = identity.size() rows of `features` (n × dim floats,
// row-major), in allVsAllIndex order: each score the dot product accumulated in double in k order
// (so exactly what a plain loop over k gives), computed as blocked matrix products on `threads`
// threads (0 = the host's cores); labels 1 where identity[i] == identity[j]. Throws EvalError when
// the sizes disagree or n(n-1)/2 exceeds kMaxAllVsAllComparisons.
void allVsAllScores(const std::vector<float>& features, int dim, const std::vector<int>& identity,
                    int threads, std::vector<double>& scores, std::vector<int>& labels);

// The report of features already embedded (rows L2-normalised; identity per row, each in
// 0..identities-1, else EvalError): allVsAllScores, then the
// rates of rateMetrics over every pair, and the k-fold accuracy over folds of identities
// (contiguousFolds over the identities): only pairs whose two images lie in one fold take part, so
// a held-out fold's identities never appear in the pairs its threshold is chosen on. Protocol
// "all-vs-all"; images, identities and accuracy_pairs set. seconds is left 0.
VerificationReport allVsAllReport(const std::vector<float>& features, int dim,
                                  const std::vector<int>& identity, int identities,
                                  const std::vector<double>& fars, int folds,
                                  const std::string& name, int threads = 0);

// Embeds every image of `set` once (batches of at most batch_size, in set order), L2-normalises
// and reports with allVsAllReport. Errors and `shards` as runPairs (only rank 0 scores).
VerificationReport runAllVsAll(const ImageFolderSet& set, const Embedder& embed, int dim,
                               int batch_size, const std::vector<double>& fars, int folds,
                               const std::string& name, const EmbedShards& shards = {},
                               int threads = 0);

}  // namespace l2face::eval
