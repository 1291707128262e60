// runPairs and runBin: embed a protocol's images, score pairs by cosine, compute the metrics.
#include "l2face/eval/verification.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "embedding.h"
#include "l2face/eval/errors.h"

namespace l2face::eval {
namespace detail {

namespace {

// Checks one embedded row and writes it (normalised or not) to dst.
void storeRow(const float* row, int dim, bool normalise, float* dst, const std::string& context,
              const std::function<std::string()>& name) {
  const double norm2 = dot(row, row, dim);
  // A zero or non-finite embedding has no direction: a cosine would be meaningless.
  if (!std::isfinite(norm2) || norm2 <= 0.0) {
    throw EvalError(context + ": embedding of " + name() + " is " +
                    (std::isfinite(norm2) ? "all zeros" : "non-finite") +
                    " (broken image or diverged model?)");
  }
  const double inv = normalise ? 1.0 / std::sqrt(norm2) : 1.0;
  for (int k = 0; k < dim; ++k) dst[k] = normalise ? static_cast<float>(row[k] * inv) : row[k];
}

}  // namespace

std::vector<float> embedRows(
    size_t count, int dim, int batch_size,
    const std::function<void(size_t begin, size_t end, std::vector<float>& out)>& embed_batch,
    const std::function<std::string(size_t)>& name, const std::string& context,
    const EmbedShards& shards, bool normalise) {
  const size_t d = static_cast<size_t>(dim);
  const auto [first, last] = shardRange(count, batch_size, shards.rank, shards.world);
  std::vector<float> mine((last - first) * d);
  std::vector<float> out;
  for (size_t begin = first; begin < last; begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(last, begin + static_cast<size_t>(batch_size));
    const size_t n = end - begin;
    out.clear();
    embed_batch(begin, end, out);
    if (out.size() != n * d) {
      throw EvalError(context + ": the embedder returned " + std::to_string(out.size()) +
                      " floats for " + std::to_string(n) + " images of dim " + std::to_string(dim) +
                      " (expected " + std::to_string(n * d) + "; first image " + name(begin) + ")");
    }
    for (size_t r = 0; r < n; ++r) {
      storeRow(out.data() + r * d, dim, normalise, mine.data() + (begin - first + r) * d, context,
               [&] { return name(begin + r); });
    }
  }
  if (shards.world <= 1) return mine;
  if (!shards.gather) throw EvalError(context + ": sharded embedding without a gather");
  std::vector<float> all = shards.gather(mine);
  if (all.size() != count * d) {
    throw EvalError(context + ": gathered " + std::to_string(all.size()) + " floats for " +
                    std::to_string(count) + " images of dim " + std::to_string(dim));
  }
  return all;
}

std::vector<float> embedFiles(const std::vector<std::string>& paths, const Embedder& embed, int dim,
                              int batch_size, const std::string& context,
                              const EmbedShards& shards) {
  std::vector<std::string> batch;
  return embedRows(
      paths.size(), dim, batch_size,
      [&](size_t begin, size_t end, std::vector<float>& out) {
        batch.assign(paths.begin() + static_cast<std::ptrdiff_t>(begin),
                     paths.begin() + static_cast<std::ptrdiff_t>(end));
        embed(batch, out);
      },
      [&](size_t i) { return paths[i]; }, context, shards);
}

void checkRunArguments(const std::string& context, size_t pairs, int dim, int batch_size,
                       bool has_embedder) {
  if (pairs == 0) throw EvalError(context + ": no pairs");
  if (dim < 1) throw EvalError(context + ": dim must be >= 1, got " + std::to_string(dim));
  if (batch_size < 1) {
    throw EvalError(context + ": batch_size must be >= 1, got " + std::to_string(batch_size));
  }
  if (!has_embedder) throw EvalError(context + ": no embedder");
}

}  // namespace detail

std::pair<size_t, size_t> shardRange(size_t count, int batch_size, int rank, int world) {
  if (batch_size < 1 || world < 1 || rank < 0 || rank >= world) {
    throw EvalError("shardRange: batch_size " + std::to_string(batch_size) + ", rank " +
                    std::to_string(rank) + " of " + std::to_string(world));
  }
  const size_t b = static_cast<size_t>(batch_size);
  const size_t batches = (count + b - 1) / b;
  const size_t w = static_cast<size_t>(world), r = static_cast<size_t>(rank);
  const size_t base = batches / w, extra = batches % w;
  const size_t first_batch = r * base + std::min(r, extra);
  const size_t n_batches = base + (r < extra ? 1 : 0);
  return {std::min(count, first_batch * b), std::min(count, (first_batch + n_batches) * b)};
}

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

using detail::unscored;

}  // namespace

VerificationReport runPairs(const std::vector<Pair>& pairs, const Embedder& embed, int dim,
                            int batch_size, const std::vector<double>& fars,
                            const std::string& name, const EmbedShards& shards) {
  const auto start = std::chrono::steady_clock::now();
  const std::string context = "runPairs(" + name + ")";
  detail::checkRunArguments(context, pairs.size(), dim, batch_size, static_cast<bool>(embed));

  const std::vector<std::string> images = uniqueImages(pairs);
  const std::vector<float> embeddings =
      detail::embedFiles(images, embed, dim, batch_size, "runPairs", shards);
  if (!shards.scores()) return unscored(name);
  auto rowOf = [&](const std::string& path) {
    const auto it = std::lower_bound(images.begin(), images.end(), path);
    return embeddings.data() + static_cast<size_t>(it - images.begin()) * static_cast<size_t>(dim);
  };

  VerificationReport report;
  report.name = name;
  report.protocol = "pairs";
  report.pairs = static_cast<int64_t>(pairs.size());
  report.embedding_dim = dim;
  report.scores.reserve(pairs.size());
  report.labels.reserve(pairs.size());
  std::vector<int> folds;
  folds.reserve(pairs.size());
  for (const Pair& pair : pairs) {
    report.scores.push_back(detail::dot(rowOf(pair.a), rowOf(pair.b), dim));
    report.labels.push_back(pair.same ? 1 : 0);
    folds.push_back(pair.fold);
  }
  report.metrics = computeMetrics(report.scores, report.labels, folds, fars);
  report.seconds = secondsSince(start);
  return report;
}

VerificationReport runBin(const BinSet& set, const BytesEmbedder& embed, int dim, int batch_size,
                          const std::vector<double>& fars, int folds, const std::string& name,
                          const EmbedShards& shards) {
  const auto start = std::chrono::steady_clock::now();
  const std::string context = "runBin(" + name + ")";
  detail::checkRunArguments(context, set.same.size(), dim, batch_size, static_cast<bool>(embed));
  if (set.images.size() != 2 * set.same.size()) {
    throw EvalError(context + ": " + std::to_string(set.images.size()) + " images for " +
                    std::to_string(set.same.size()) + " pairs");
  }
  const std::string file = set.path.empty() ? name : set.path;
  auto imageName = [&](size_t i) {
    return file + " images[" + std::to_string(i) + "] (pair " + std::to_string(i / 2) + ")";
  };
  // Byte-identical images (LFW's pairs reuse images; a .bin stores each use) give identical
  // embeddings: embed each content once, in order of first appearance.
  std::vector<size_t> first;  // set.images index of each distinct content
  std::vector<size_t> row(set.images.size());
  {
    std::unordered_map<std::string_view, size_t> seen;
    for (size_t i = 0; i < set.images.size(); ++i) {
      const auto& bytes = *set.images[i];
      const std::string_view key(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      const auto [it, fresh] = seen.try_emplace(key, first.size());
      if (fresh) first.push_back(i);
      row[i] = it->second;
    }
  }
  std::vector<EncodedImage> batch;
  const std::vector<float> embeddings = detail::embedRows(
      first.size(), dim, batch_size,
      [&](size_t begin, size_t end, std::vector<float>& out) {
        batch.clear();
        for (size_t u = begin; u < end; ++u) {
          batch.push_back({set.images[first[u]].get(), imageName(first[u])});
        }
        embed(batch, out);
      },
      [&](size_t u) { return imageName(first[u]); }, context, shards);
  if (!shards.scores()) return unscored(name);

  VerificationReport report;
  report.name = name;
  report.protocol = "bin";
  report.pairs = set.pairs();
  report.embedding_dim = dim;
  const size_t d = static_cast<size_t>(dim);
  for (size_t i = 0; i < set.same.size(); ++i) {
    report.scores.push_back(detail::dot(embeddings.data() + row[2 * i] * d,
                                        embeddings.data() + row[2 * i + 1] * d, dim));
    report.labels.push_back(set.same[i] ? 1 : 0);
  }
  report.metrics =
      computeMetrics(report.scores, report.labels, contiguousFolds(set.pairs(), folds), fars);
  report.seconds = secondsSince(start);
  return report;
}

VerificationReport reportFromScores(std::vector<double> scores, std::vector<int> labels, int folds,
                                    const std::vector<double>& fars, const std::string& name) {
  const auto start = std::chrono::steady_clock::now();
  VerificationReport report;
  report.name = name;
  report.protocol = "scores";
  report.pairs = static_cast<int64_t>(scores.size());
  report.metrics = computeMetrics(
      scores, labels, contiguousFolds(static_cast<int64_t>(scores.size()), folds), fars);
  report.scores = std::move(scores);
  report.labels = std::move(labels);
  report.seconds = secondsSince(start);
  return report;
}

}  // namespace l2face::eval
