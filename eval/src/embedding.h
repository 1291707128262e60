// Embedding a list of items in batches into L2-normalised rows (private to the module).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "l2face/eval/shards.h"
#include "l2face/eval/verification.h"

namespace l2face::eval::detail {

// Calls embed_batch(begin, end, out) for consecutive batches [begin, end) of at most batch_size
// of `count` items; each call must leave (end - begin) × dim floats in out. Returns count × dim
// floats, each row L2-normalised when `normalise` (else as embedded). With shards.world > 1 this
// rank embeds only its shardRange and shards.gather supplies the other ranks' rows. A wrong float
// count, or a zero or non-finite row, throws EvalError prefixed by `context` and naming the item
// (name(i)).
std::vector<float> embedRows(
    size_t count, int dim, int batch_size,
    const std::function<void(size_t begin, size_t end, std::vector<float>& out)>& embed_batch,
    const std::function<std::string(size_t)>& name, const std::string& context,
    const EmbedShards& shards, bool normalise = true);

// embedRows over image files: consecutive batches of `paths` go to `embed`; an item is named by
// its path in messages.
std::vector<float> embedFiles(const std::vector<std::string>& paths, const Embedder& embed, int dim,
                              int batch_size, const std::string& context,
                              const EmbedShards& shards);

// The report a rank that does not score returns: only the set's name.
inline VerificationReport unscored(const std::string& name) {
  VerificationReport report;
  report.name = name;
  return report;
}

// Dot product of two rows of length dim, accumulated in double.
inline double dot(const float* a, const float* b, int dim) {
  double sum = 0.0;
  for (int k = 0; k < dim; ++k) sum += static_cast<double>(a[k]) * b[k];
  return sum;
}

// The same with four independent partial sums, which the compiler vectorises (the summation
// order differs from dot's in the last bits): for the millions of template pairs of IJB.
inline double dotWide(const float* a, const float* b, int dim) {
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  int k = 0;
  for (; k + 4 <= dim; k += 4) {
    for (int j = 0; j < 4; ++j) s[j] += static_cast<double>(a[k + j]) * b[k + j];
  }
  for (; k < dim; ++k) s[0] += static_cast<double>(a[k]) * b[k];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Checks the arguments shared by the run* functions; throws EvalError prefixed by `context`.
void checkRunArguments(const std::string& context, size_t pairs, int dim, int batch_size,
                       bool has_embedder);

}  // namespace l2face::eval::detail
