// Reading verification pair lists (LFW pairs.txt and plain "path1 path2 label" lists).
#include "l2face/eval/pairs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "image_checker.h"
#include "l2face/eval/errors.h"
#include "l2face/eval/metrics.h"
#include "text_util.h"

namespace l2face::eval {
namespace {

namespace fs = std::filesystem;
using detail::ImageChecker;
using detail::joinPath;
using detail::where;

struct Line {
  int64_t number = 0;  // 1-based line number in the file
  std::vector<std::string> fields;
};

// Non-blank lines, split on whitespace, with their line numbers for messages.
std::vector<Line> readLines(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw EvalError(file + ": cannot open pairs file");
  std::vector<Line> lines;
  std::string text;
  int64_t number = 0;
  while (std::getline(in, text)) {
    ++number;
    auto fields = detail::splitWhitespace(text);
    if (!fields.empty()) lines.push_back({number, std::move(fields)});
  }
  if (in.bad()) throw EvalError(file + ": read error after line " + std::to_string(number));
  return lines;
}

std::string lfwPath(const fs::path& root, const std::string& name, long index) {
  char number[32];
  std::snprintf(number, sizeof(number), "%04ld", index);
  return (root / name / (name + "_" + number + ".jpg")).lexically_normal().string();
}

long imageNumber(const std::string& field, const std::string& file, int64_t line) {
  const auto value = detail::parseInt(field);
  if (!value || *value < 1) {
    throw EvalError(where(file, line) + ": image number '" + field + "' is not a positive integer");
  }
  return *value;
}

std::vector<Pair> readLfw(const std::vector<Line>& lines, const std::string& file,
                          const fs::path& root) {
  // 1. Header: `<folds> <n>`, or `<n>` alone (pairsDevTrain.txt / pairsDevTest.txt).
  const Line& header = lines.front();
  const auto first = detail::parseInt(header.fields[0]);
  const auto second =
      header.fields.size() == 2 ? detail::parseInt(header.fields[1]) : std::optional<long>(1);
  if (!first || !second || *first < 1 || *second < 1) {
    throw EvalError(where(file, header.number) +
                    ": bad LFW header: expected '<folds> <pairs_per_fold>' (or '<pairs>') with "
                    "positive integers");
  }
  const long folds = header.fields.size() == 2 ? *first : 1;
  const long n = header.fields.size() == 2 ? *second : *first;
  const int64_t expected = static_cast<int64_t>(folds) * 2 * n;
  const std::string announced = "the header (line " + std::to_string(header.number) +
                                ") announces " + std::to_string(folds) + " fold(s) x 2 x " +
                                std::to_string(n) + " = " + std::to_string(expected) + " pairs";

  // 2. Records: per fold n matched lines, then n mismatched lines.
  ImageChecker images(file);
  std::vector<Pair> pairs;
  pairs.reserve(static_cast<size_t>(std::min<int64_t>(expected, lines.size())));
  for (size_t i = 1; i < lines.size(); ++i) {
    const Line& line = lines[i];
    const int64_t index = static_cast<int64_t>(i) - 1;
    if (index >= expected) {
      throw EvalError(where(file, line.number) + ": more pairs than expected: " + announced);
    }
    const int fold = static_cast<int>(index / (2 * n));
    const bool same = index % (2 * n) < n;
    const size_t want = same ? 3 : 4;
    if (line.fields.size() != want) {
      throw EvalError(where(file, line.number) + ": expected a " +
                      (same ? "matched pair 'name i j'" : "mismatched pair 'name1 i name2 j'") +
                      " (fold " + std::to_string(fold) + ") but found " +
                      std::to_string(line.fields.size()) + " fields; " + announced);
    }
    Pair pair;
    pair.same = same;
    pair.fold = fold;
    const auto& f = line.fields;
    if (same) {
      pair.a = lfwPath(root, f[0], imageNumber(f[1], file, line.number));
      pair.b = lfwPath(root, f[0], imageNumber(f[2], file, line.number));
    } else {
      pair.a = lfwPath(root, f[0], imageNumber(f[1], file, line.number));
      pair.b = lfwPath(root, f[2], imageNumber(f[3], file, line.number));
    }
    images.check(pair.a, line.number);
    images.check(pair.b, line.number);
    pairs.push_back(std::move(pair));
  }
  if (static_cast<int64_t>(pairs.size()) != expected) {
    throw EvalError(where(file, lines.back().number) + ": file ends after " +
                    std::to_string(pairs.size()) + " pairs, but " + announced);
  }
  return pairs;
}

std::vector<Pair> readPlain(const std::vector<Line>& lines, const std::string& file,
                            const fs::path& root, int plain_folds) {
  ImageChecker images(file);
  std::vector<Pair> pairs;
  pairs.reserve(lines.size());
  for (const Line& line : lines) {
    const auto& f = line.fields;
    if (f.size() != 3) {
      throw EvalError(where(file, line.number) + ": expected 'path1 path2 label' but found " +
                      std::to_string(f.size()) + " fields");
    }
    Pair pair;
    if (f[2] == "1" || f[2] == "same") {
      pair.same = true;
    } else if (f[2] == "0" || f[2] == "diff") {
      pair.same = false;
    } else {
      throw EvalError(where(file, line.number) + ": label '" + f[2] +
                      "' is not one of 1, 0, same, diff");
    }
    pair.a = joinPath(root, f[0]);
    pair.b = joinPath(root, f[1]);
    images.check(pair.a, line.number);
    images.check(pair.b, line.number);
    pairs.push_back(std::move(pair));
  }
  // Contiguous blocks in file order, cut like insightface's (sklearn KFold without shuffling).
  const std::vector<int> folds = contiguousFolds(static_cast<int64_t>(pairs.size()), plain_folds);
  for (size_t i = 0; i < pairs.size(); ++i) pairs[i].fold = folds[i];
  return pairs;
}

}  // namespace

std::vector<Pair> readPairs(const std::string& pairs_file, const std::string& image_root,
                            int plain_folds) {
  if (plain_folds < 1) {
    throw EvalError("readPairs: plain_folds must be >= 1, got " + std::to_string(plain_folds));
  }
  const std::vector<Line> lines = readLines(pairs_file);
  if (lines.empty()) throw EvalError(pairs_file + ": empty pairs file (no pairs)");
  fs::path root = image_root.empty() ? fs::path(pairs_file).parent_path() : fs::path(image_root);
  if (root.empty()) root = ".";

  const size_t width = lines.front().fields.size();
  if (width <= 2) return readLfw(lines, pairs_file, root);
  if (width == 3) return readPlain(lines, pairs_file, root, plain_folds);
  throw EvalError(where(pairs_file, lines.front().number) +
                  ": unrecognised layout: expected an LFW header '<folds> <pairs_per_fold>' or a "
                  "plain 'path1 path2 label' line, found " +
                  std::to_string(width) + " fields");
}

std::vector<std::string> uniqueImages(const std::vector<Pair>& pairs) {
  std::vector<std::string> paths;
  paths.reserve(pairs.size() * 2);
  for (const Pair& pair : pairs) {
    paths.push_back(pair.a);
    paths.push_back(pair.b);
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

}  // namespace l2face::eval
