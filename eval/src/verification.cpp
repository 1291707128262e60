// runPairs: embed the unique images of a pair list once, score pairs by cosine, compute metrics.
#include "l2face/eval/verification.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "l2face/eval/errors.h"

namespace l2face::eval {
namespace {

// Embeds `paths` in batches into one row-major matrix of L2-normalised rows.
std::vector<float> embedAll(const std::vector<std::string>& paths, const Embedder& embed, int dim,
                            int batch_size) {
  const size_t d = static_cast<size_t>(dim);
  std::vector<float> all(paths.size() * d);
  std::vector<std::string> batch;
  std::vector<float> out;
  for (size_t begin = 0; begin < paths.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(paths.size(), begin + static_cast<size_t>(batch_size));
    batch.assign(paths.begin() + static_cast<std::ptrdiff_t>(begin),
                 paths.begin() + static_cast<std::ptrdiff_t>(end));
    out.clear();
    embed(batch, out);
    if (out.size() != batch.size() * d) {
      throw EvalError("runPairs: the embedder returned " + std::to_string(out.size()) +
                      " floats for " + std::to_string(batch.size()) + " images of dim " +
                      std::to_string(dim) + " (expected " + std::to_string(batch.size() * d) +
                      "; first image " + batch.front() + ")");
    }
    for (size_t r = 0; r < batch.size(); ++r) {
      const float* row = out.data() + r * d;
      double norm2 = 0.0;
      for (size_t k = 0; k < d; ++k) norm2 += static_cast<double>(row[k]) * row[k];
      // A zero or non-finite embedding has no direction: a cosine would be meaningless.
      if (!std::isfinite(norm2) || norm2 <= 0.0) {
        throw EvalError("runPairs: embedding of " + batch[r] + " is " +
                        (std::isfinite(norm2) ? "all zeros" : "non-finite") +
                        " (broken image or diverged model?)");
      }
      const double inv = 1.0 / std::sqrt(norm2);
      float* dst = all.data() + (begin + r) * d;
      for (size_t k = 0; k < d; ++k) dst[k] = static_cast<float>(row[k] * inv);
    }
  }
  return all;
}

}  // namespace

VerificationReport runPairs(const std::vector<Pair>& pairs, const Embedder& embed, int dim,
                            int batch_size, const std::vector<double>& fars,
                            const std::string& name) {
  const auto start = std::chrono::steady_clock::now();
  if (pairs.empty()) throw EvalError("runPairs(" + name + "): no pairs");
  if (dim < 1)
    throw EvalError("runPairs(" + name + "): dim must be >= 1, got " + std::to_string(dim));
  if (batch_size < 1) {
    throw EvalError("runPairs(" + name + "): batch_size must be >= 1, got " +
                    std::to_string(batch_size));
  }
  if (!embed) throw EvalError("runPairs(" + name + "): no embedder");

  const std::vector<std::string> images = uniqueImages(pairs);
  const std::vector<float> embeddings = embedAll(images, embed, dim, batch_size);
  auto rowOf = [&](const std::string& path) {
    const auto it = std::lower_bound(images.begin(), images.end(), path);
    return embeddings.data() + static_cast<size_t>(it - images.begin()) * static_cast<size_t>(dim);
  };

  VerificationReport report;
  report.name = name;
  report.pairs = static_cast<int64_t>(pairs.size());
  report.embedding_dim = dim;
  report.scores.reserve(pairs.size());
  report.labels.reserve(pairs.size());
  std::vector<int> folds;
  folds.reserve(pairs.size());
  for (const Pair& pair : pairs) {
    const float* a = rowOf(pair.a);
    const float* b = rowOf(pair.b);
    double dot = 0.0;
    for (int k = 0; k < dim; ++k) dot += static_cast<double>(a[k]) * b[k];
    report.scores.push_back(dot);
    report.labels.push_back(pair.same ? 1 : 0);
    folds.push_back(pair.fold);
  }
  report.metrics = computeMetrics(report.scores, report.labels, folds, fars);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace l2face::eval
