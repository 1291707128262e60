// IJB-style template verification: reading templates and template pairs, pooling, runTemplates.
#include "l2face/eval/templates.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "embedding.h"
#include "image_checker.h"
#include "l2face/eval/errors.h"
#include "text_util.h"

namespace l2face::eval {
namespace {

namespace fs = std::filesystem;
using detail::where;

struct CsvLine {
  int64_t number = 0;
  std::vector<std::string> fields;
};

// Non-blank lines split on commas; the first must be `header` exactly (spaces around fields and
// a trailing '\r' are ignored). Every other line must have as many fields as the header.
std::vector<CsvLine> readCsv(const std::string& file, const std::vector<std::string>& header,
                             const char* what) {
  std::ifstream in(file);
  if (!in) throw EvalError(file + ": cannot open " + what);
  std::vector<CsvLine> lines;
  std::string text;
  int64_t number = 0;
  bool seen_header = false;
  std::string joined;
  for (const auto& h : header) joined += (joined.empty() ? "" : ",") + h;
  while (std::getline(in, text)) {
    ++number;
    const auto line = detail::trim(text);
    if (line.empty()) continue;
    auto fields = detail::splitChar(line, ',');
    if (!seen_header) {
      if (fields != header) {
        throw EvalError(where(file, number) + ": expected the header '" + joined + "' of " + what +
                        ", found '" + std::string(line) + "'");
      }
      seen_header = true;
      continue;
    }
    if (fields.size() != header.size()) {
      throw EvalError(where(file, number) + ": expected " + std::to_string(header.size()) +
                      " fields (" + joined + ") but found " + std::to_string(fields.size()));
    }
    lines.push_back({number, std::move(fields)});
  }
  if (in.bad()) throw EvalError(file + ": read error after line " + std::to_string(number));
  if (!seen_header)
    throw EvalError(file + ": empty " + what + " (expected the header '" + joined + "')");
  if (lines.empty()) throw EvalError(file + ": " + what + " has a header but no rows");
  return lines;
}

int64_t integerField(const CsvLine& line, size_t i, const char* column, const std::string& file) {
  const auto value = detail::parseInt(line.fields[i]);
  if (!value) {
    throw EvalError(where(file, line.number) + ": " + column + " '" + line.fields[i] +
                    "' is not an integer");
  }
  return *value;
}

}  // namespace

int64_t TemplateSet::find(int64_t id) const {
  const auto it = std::lower_bound(templates.begin(), templates.end(), id,
                                   [](const Template& t, int64_t v) { return t.id < v; });
  return it != templates.end() && it->id == id ? it - templates.begin() : -1;
}

TemplateSet readTemplates(const std::string& path) {
  std::error_code ec;
  const std::string file =
      fs::is_directory(path, ec) ? (fs::path(path) / kTemplatesFile).string() : path;
  const auto lines =
      readCsv(file, {"template_id", "subject_id", "image", "media_id"}, "templates file");
  fs::path root = fs::path(file).parent_path();
  if (root.empty()) root = ".";

  struct Row {
    int64_t template_id, subject, media;
    std::string image;
    int64_t line;
  };
  std::vector<Row> rows;
  rows.reserve(lines.size());
  detail::ImageChecker checker(file);
  for (const CsvLine& line : lines) {
    Row row;
    row.template_id = integerField(line, 0, "template_id", file);
    row.subject = integerField(line, 1, "subject_id", file);
    row.media = integerField(line, 3, "media_id", file);
    if (line.fields[2].empty()) {
      throw EvalError(where(file, line.number) + ": template " + std::to_string(row.template_id) +
                      " has an empty image field");
    }
    row.image = detail::joinPath(root, line.fields[2]);
    checker.check(row.image, line.number);
    row.line = line.number;
    rows.push_back(std::move(row));
  }

  TemplateSet set;
  set.file = file;
  for (const Row& row : rows) set.images.push_back(row.image);
  std::sort(set.images.begin(), set.images.end());
  set.images.erase(std::unique(set.images.begin(), set.images.end()), set.images.end());

  std::map<int64_t, Template> by_id;  // ordered: templates come out sorted by id
  for (const Row& row : rows) {
    auto [it, fresh] = by_id.try_emplace(row.template_id);
    Template& t = it->second;
    if (fresh) {
      t.id = row.template_id;
      t.subject = row.subject;
      t.line = row.line;
    } else if (t.subject != row.subject) {
      throw EvalError(where(file, row.line) + ": template " + std::to_string(t.id) +
                      " names subject " + std::to_string(row.subject) + " but line " +
                      std::to_string(t.line) + " gave it subject " + std::to_string(t.subject));
    }
    const auto image = std::lower_bound(set.images.begin(), set.images.end(), row.image);
    t.images.push_back(static_cast<int>(image - set.images.begin()));
    t.media.push_back(row.media);
  }
  set.templates.reserve(by_id.size());
  for (auto& [id, t] : by_id) set.templates.push_back(std::move(t));
  return set;
}

std::vector<TemplatePair> readTemplatePairs(const std::string& pairs_file, const TemplateSet& set,
                                            int folds) {
  const std::string file = !pairs_file.empty()
                               ? pairs_file
                               : (fs::path(set.file).parent_path() / kTemplatePairsFile).string();
  const auto lines = readCsv(file, {"template_a", "template_b", "label"}, "template pairs file");
  std::vector<TemplatePair> pairs;
  pairs.reserve(lines.size());
  for (const CsvLine& line : lines) {
    const int64_t ids[2] = {integerField(line, 0, "template_a", file),
                            integerField(line, 1, "template_b", file)};
    TemplatePair pair;
    size_t* slots[2] = {&pair.a, &pair.b};
    for (int k = 0; k < 2; ++k) {
      const int64_t index = set.find(ids[k]);
      if (index < 0) {
        throw EvalError(where(file, line.number) + ": unknown template id " +
                        std::to_string(ids[k]) + " (not in " + set.file + ")");
      }
      *slots[k] = static_cast<size_t>(index);
    }
    const std::string& label = line.fields[2];
    if (label != "0" && label != "1") {
      throw EvalError(where(file, line.number) + ": label '" + label + "' is not 0 or 1");
    }
    pair.same = label == "1";
    const Template& a = set.templates[pair.a];
    const Template& b = set.templates[pair.b];
    // The label is derived from the subjects in IJB; a contradiction means a broken file.
    if (pair.same != (a.subject == b.subject)) {
      throw EvalError(where(file, line.number) + ": label " + label + " but template " +
                      std::to_string(a.id) + " is subject " + std::to_string(a.subject) +
                      " and template " + std::to_string(b.id) + " is subject " +
                      std::to_string(b.subject));
    }
    pairs.push_back(pair);
  }
  const std::vector<int> fold_ids = contiguousFolds(static_cast<int64_t>(pairs.size()), folds);
  for (size_t i = 0; i < pairs.size(); ++i) pairs[i].fold = fold_ids[i];
  return pairs;
}

std::vector<float> poolTemplates(const TemplateSet& set, const std::vector<float>& image_features,
                                 int dim, bool media_pool) {
  const size_t d = static_cast<size_t>(dim);
  if (dim < 1 || image_features.size() != set.images.size() * d) {
    throw EvalError("poolTemplates: " + std::to_string(image_features.size()) + " floats for " +
                    std::to_string(set.images.size()) + " images of dim " + std::to_string(dim));
  }
  std::vector<float> out(set.templates.size() * d);
  std::vector<double> sum(d), media_sum(d);
  for (size_t t = 0; t < set.templates.size(); ++t) {
    const Template& tpl = set.templates[t];
    std::fill(sum.begin(), sum.end(), 0.0);
    if (!media_pool) {
      for (int image : tpl.images) {
        const float* f = image_features.data() + static_cast<size_t>(image) * d;
        for (size_t k = 0; k < d; ++k) sum[k] += f[k];
      }
      // The mean differs from the sum by a positive factor only, which normalising removes.
    } else {
      std::map<int64_t, std::vector<int>> by_media;
      for (size_t r = 0; r < tpl.images.size(); ++r)
        by_media[tpl.media[r]].push_back(tpl.images[r]);
      for (const auto& [media, images] : by_media) {
        std::fill(media_sum.begin(), media_sum.end(), 0.0);
        for (int image : images) {
          const float* f = image_features.data() + static_cast<size_t>(image) * d;
          for (size_t k = 0; k < d; ++k) media_sum[k] += f[k];
        }
        // Each media weighs the same, however many frames it has: hence the mean per media.
        for (size_t k = 0; k < d; ++k) sum[k] += media_sum[k] / static_cast<double>(images.size());
      }
    }
    double norm2 = 0.0;
    for (double v : sum) norm2 += v * v;
    if (!(norm2 > 1e-24) || !std::isfinite(norm2)) {
      throw EvalError(set.file + ":" + std::to_string(tpl.line) + ": template " +
                      std::to_string(tpl.id) + " has a zero pooled feature (its images' " +
                      "features cancel out)");
    }
    const double inv = 1.0 / std::sqrt(norm2);
    for (size_t k = 0; k < d; ++k) out[t * d + k] = static_cast<float>(sum[k] * inv);
  }
  return out;
}

std::vector<double> templatePairScores(const TemplateSet& set,
                                       const std::vector<TemplatePair>& pairs,
                                       const std::vector<float>& features, int dim) {
  const size_t d = static_cast<size_t>(dim);
  const size_t n = set.templates.size();
  if (features.size() != n * d) {
    throw EvalError("templatePairScores: " + std::to_string(features.size()) + " floats for " +
                    std::to_string(n) + " templates of dim " + std::to_string(dim));
  }
  std::vector<double> scores(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const TemplatePair& p = pairs[i];
    if (p.a >= n || p.b >= n) {
      throw EvalError("templatePairScores: pair " + std::to_string(i) + " names template index " +
                      std::to_string(std::max(p.a, p.b)) + " of " + std::to_string(n));
    }
    scores[i] = detail::dotWide(features.data() + p.a * d, features.data() + p.b * d, dim);
  }
  return scores;
}

VerificationReport runTemplates(const TemplateSet& set, const std::vector<TemplatePair>& pairs,
                                const Embedder& embed, int dim, int batch_size,
                                const std::vector<double>& fars, bool media_pool,
                                const std::string& name, const EmbedShards& shards) {
  const auto start = std::chrono::steady_clock::now();
  const std::string context = "runTemplates(" + name + ")";
  detail::checkRunArguments(context, pairs.size(), dim, batch_size, static_cast<bool>(embed));
  const std::vector<float> images =
      detail::embedFiles(set.images, embed, dim, batch_size, context, shards);
  if (!shards.scores()) return detail::unscored(name);
  const std::vector<float> features = poolTemplates(set, images, dim, media_pool);

  VerificationReport report;
  report.name = name;
  report.protocol = "templates";
  report.pairs = static_cast<int64_t>(pairs.size());
  report.embedding_dim = dim;
  report.scores = templatePairScores(set, pairs, features, dim);
  std::vector<int> folds;
  for (const TemplatePair& p : pairs) {
    report.labels.push_back(p.same ? 1 : 0);
    folds.push_back(p.fold);
  }
  report.metrics = computeMetrics(report.scores, report.labels, folds, fars);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace l2face::eval
