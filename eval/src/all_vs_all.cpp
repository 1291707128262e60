// All-vs-all verification: the folder scan, the blocked score matrix, the report (rules in the
// header).
#include "l2face/eval/all_vs_all.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <exception>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>

#include "embedding.h"
#include "l2face/eval/errors.h"
#include "l2face/eval/metrics.h"

namespace l2face::eval {
namespace {

namespace fs = std::filesystem;

bool isJpeg(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg";
}

// Sorted names of the entries of `dir` that pass `keep`; hidden entries are never listed.
template <typename Keep>
std::vector<std::string> listSorted(const fs::path& dir, Keep keep) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != '.' && keep(*it)) names.push_back(name);
  }
  if (ec) throw EvalError("all-vs-all folder '" + dir.string() + "': cannot list: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

int64_t pairsOf(int64_t n) { return n * (n - 1) / 2; }

std::string counted(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The refusals readImageFolder and allVsAllScores share.
void checkCap(const std::string& what, int64_t images) {
  if (pairsOf(images) <= kMaxAllVsAllComparisons) return;
  throw EvalError(what + ": " + std::to_string(images) + " images give " +
                  std::to_string(pairsOf(images)) + " all-vs-all comparisons, more than the cap " +
                  "of " + std::to_string(kMaxAllVsAllComparisons) +
                  " (at most 14142 images); evaluate a subset of the identities");
}

// Rows a tile of the score matrix covers, and columns: 8 × 64 double accumulators (4 KiB) stay
// in L1 while a 64-column panel of the transposed features (dim × 64 doubles) stays in L2.
constexpr size_t kTileRows = 8;
constexpr size_t kTileCols = 64;

// acc[r][c] = sum over k of a(r, k) · at[k][j0 + c], for r < rows and c < cols, summed in k
// order. The full tile passes compile-time bounds, which lets the compiler vectorise over c at -O2
// (runtime bounds leave the loop scalar: half the speed).
template <size_t Rows, size_t Cols>
void accumulate(const double* a, const double* at, size_t n, size_t dim, size_t j0, size_t rows,
                size_t cols, double (&acc)[kTileRows][kTileCols]) {
  const size_t r_end = Rows ? Rows : rows;
  const size_t c_end = Cols ? Cols : cols;
  for (size_t r = 0; r < r_end; ++r) std::fill(acc[r], acc[r] + c_end, 0.0);
  for (size_t k = 0; k < dim; ++k) {
    const double* b = at + k * n + j0;
    for (size_t r = 0; r < r_end; ++r) {
      const double x = a[r * dim + k];
      double* out = acc[r];
      for (size_t c = 0; c < c_end; ++c) out[c] += x * b[c];
    }
  }
}

// The scores of row tile [i0, i0 + rows) against every later column, written in allVsAllIndex
// order. `at` holds the features transposed (dim × n, double), so the inner loop runs over
// contiguous columns and each score still sums its products in k order.
void scoreRowTile(const std::vector<double>& rows_d, const std::vector<double>& at, size_t n,
                  size_t dim, size_t i0, std::vector<double>& scores) {
  const size_t rows = std::min(kTileRows, n - i0);
  const double* a = rows_d.data() + i0 * dim;
  double acc[kTileRows][kTileCols];
  for (size_t j0 = i0 + 1; j0 < n; j0 += kTileCols) {
    const size_t cols = std::min(kTileCols, n - j0);
    if (rows == kTileRows && cols == kTileCols) {
      accumulate<kTileRows, kTileCols>(a, at.data(), n, dim, j0, rows, cols, acc);
    } else {
      accumulate<0, 0>(a, at.data(), n, dim, j0, rows, cols, acc);
    }
    for (size_t r = 0; r < rows; ++r) {
      const size_t i = i0 + r;
      // The first panel starts left of the later rows' diagonals: keep j > i only.
      const size_t c_begin = i + 1 > j0 ? i + 1 - j0 : 0;
      if (c_begin >= cols) continue;
      double* out =
          scores.data() + allVsAllIndex(static_cast<int64_t>(i), static_cast<int64_t>(j0 + c_begin),
                                        static_cast<int64_t>(n));
      std::copy(acc[r] + c_begin, acc[r] + cols, out);
    }
  }
}

// Runs fn(tile) for every row tile on `threads` threads; tiles are taken in order from a shared
// counter, so the long first rows and the short last rows balance out.
template <typename Fn>
void forEachTile(size_t tiles, int threads, Fn fn) {
  size_t workers = threads > 0 ? static_cast<size_t>(threads)
                               : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min(workers, std::max<size_t>(tiles, 1));
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    try {
      for (size_t t = next++; t < tiles; t = next++) fn(t);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = tiles;
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

int64_t ImageFolderSet::comparisons() const { return pairsOf(static_cast<int64_t>(images.size())); }

int64_t ImageFolderSet::genuinePairs() const {
  std::vector<int64_t> counts(identities.size(), 0);
  for (int id : identity) ++counts[static_cast<size_t>(id)];
  int64_t genuine = 0;
  for (int64_t c : counts) genuine += pairsOf(c);
  return genuine;
}

std::string allVsAllName(const std::string& root) {
  fs::path p = fs::absolute(root).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "eval/" normalises to ".../eval/"
  return "all-vs-all:" + p.filename().string();
}

ImageFolderSet readImageFolder(const std::string& root) {
  const std::string what = "all-vs-all folder '" + root + "'";
  std::error_code ec;
  if (!fs::exists(root, ec)) throw EvalError(what + ": does not exist");
  if (!fs::is_directory(root, ec)) {
    throw EvalError(what + ": not a folder (expected " + root + "/<identity>/<image>.jpg)");
  }
  ImageFolderSet set;
  set.root = root;
  const auto folders = listSorted(root, [](const fs::directory_entry& e) {
    std::error_code ignored;
    return e.is_directory(ignored);
  });
  for (const std::string& folder : folders) {
    const fs::path dir = fs::path(root) / folder;
    const auto files = listSorted(dir, [](const fs::directory_entry& e) {
      std::error_code ignored;
      return isJpeg(e.path()) && e.is_regular_file(ignored);
    });
    if (files.empty()) continue;
    const int id = static_cast<int>(set.identities.size());
    set.identities.push_back(folder);
    for (const std::string& file : files) {
      set.images.push_back((dir / file).string());
      set.identity.push_back(id);
    }
  }
  const std::string counts = " (" + counted(set.identities.size(), "identity", "identities") +
                             ", " + counted(set.images.size(), "image", "images") + ")";
  if (set.images.empty()) {
    throw EvalError(what + ": no sub-folder holds .jpg/.jpeg images" + counts + "; expected " +
                    root + "/<identity>/<image>.jpg (files directly in the folder are ignored)");
  }
  if (set.identities.size() < 2) {
    throw EvalError(what + ": needs at least 2 identities (sub-folders with images)" + counts +
                    ": without them there are no impostor comparisons");
  }
  if (set.genuinePairs() == 0) {
    throw EvalError(what + ": no identity has 2 images, so there are no genuine pairs" + counts);
  }
  checkCap(what, static_cast<int64_t>(set.images.size()));
  return set;
}

void allVsAllScores(const std::vector<float>& features, int dim, const std::vector<int>& identity,
                    int threads, std::vector<double>& scores, std::vector<int>& labels) {
  const size_t n = identity.size();
  const size_t d = static_cast<size_t>(std::max(dim, 0));
  if (dim < 1 || features.size() != n * d) {
    throw EvalError("allVsAllScores: " + std::to_string(features.size()) + " floats for " +
                    std::to_string(n) + " images of dim " + std::to_string(dim));
  }
  checkCap("allVsAllScores", static_cast<int64_t>(n));
  const size_t pairs = static_cast<size_t>(pairsOf(static_cast<int64_t>(n)));
  scores.assign(pairs, 0.0);
  labels.assign(pairs, 0);
  // Products of floats are exact in double, so the order of the sums alone fixes each score.
  std::vector<double> rows_d(features.begin(), features.end());
  std::vector<double> at(n * d);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < d; ++k) at[k * n + i] = rows_d[i * d + k];
  }
  const size_t tiles = (n + kTileRows - 1) / kTileRows;
  forEachTile(tiles, threads,
              [&](size_t t) { scoreRowTile(rows_d, at, n, d, t * kTileRows, scores); });
  for (size_t i = 0; i < n; ++i) {
    size_t index = static_cast<size_t>(allVsAllIndex(
        static_cast<int64_t>(i), static_cast<int64_t>(i) + 1, static_cast<int64_t>(n)));
    for (size_t j = i + 1; j < n; ++j, ++index) labels[index] = identity[i] == identity[j];
  }
}

VerificationReport allVsAllReport(const std::vector<float>& features, int dim,
                                  const std::vector<int>& identity, int identities,
                                  const std::vector<double>& fars, int folds,
                                  const std::string& name, int threads) {
  VerificationReport report;
  report.name = name;
  report.protocol = "all-vs-all";
  report.embedding_dim = dim;
  report.images = static_cast<int64_t>(identity.size());
  report.identities = identities;
  allVsAllScores(features, dim, identity, threads, report.scores, report.labels);
  report.pairs = static_cast<int64_t>(report.scores.size());
  report.metrics = rateMetrics(report.scores, report.labels, fars);

  // Accuracy: only the pairs inside one fold of identities, each in its fold.
  const std::vector<int> fold_of_identity = contiguousFolds(identities, folds);
  auto foldOf = [&](size_t image) {
    const int id = identity[image];
    if (id < 0 || id >= identities) {
      throw EvalError("allVsAllReport(" + name + "): identity " + std::to_string(id) + " of " +
                      std::to_string(identities));
    }
    return fold_of_identity[static_cast<size_t>(id)];
  };
  std::vector<double> fold_scores;
  std::vector<int> fold_labels, fold_ids;
  const size_t n = identity.size();
  for (size_t i = 0; i < n; ++i) {
    const int f = foldOf(i);
    size_t index = static_cast<size_t>(allVsAllIndex(
        static_cast<int64_t>(i), static_cast<int64_t>(i) + 1, static_cast<int64_t>(n)));
    for (size_t j = i + 1; j < n; ++j, ++index) {
      if (foldOf(j) != f) continue;
      fold_scores.push_back(report.scores[index]);
      fold_labels.push_back(report.labels[index]);
      fold_ids.push_back(f);
    }
  }
  report.accuracy_pairs = static_cast<int64_t>(fold_scores.size());
  setFoldAccuracy(report.metrics, kFoldAccuracy(fold_scores, fold_labels, fold_ids));
  return report;
}

VerificationReport runAllVsAll(const ImageFolderSet& set, const Embedder& embed, int dim,
                               int batch_size, const std::vector<double>& fars, int folds,
                               const std::string& name, const EmbedShards& shards, int threads) {
  const auto start = std::chrono::steady_clock::now();
  const std::string context = "runAllVsAll(" + name + ")";
  detail::checkRunArguments(context, static_cast<size_t>(set.comparisons()), dim, batch_size,
                            static_cast<bool>(embed));
  const std::vector<float> features =
      detail::embedFiles(set.images, embed, dim, batch_size, context, shards);
  if (!shards.scores()) return detail::unscored(name);
  VerificationReport report =
      allVsAllReport(features, dim, set.identity, static_cast<int>(set.identities.size()), fars,
                     folds, name, threads);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace l2face::eval
