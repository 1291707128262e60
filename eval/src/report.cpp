// Reports of a verification run: JSON, console table, ROC CSV.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "l2face/eval/errors.h"
#include "l2face/eval/verification.h"

namespace l2face::eval {

std::string reportJson(const VerificationReport& report) {
  const VerificationMetrics& m = report.metrics;
  // ordered_json keeps the documented key order, which makes reports diff-friendly.
  nlohmann::ordered_json j;
  j["name"] = report.name;
  j["pairs"] = report.pairs;
  j["positives"] = m.positives;
  j["negatives"] = m.negatives;
  j["accuracy_mean"] = m.accuracy_mean;
  j["accuracy_std"] = m.accuracy_std;
  j["folds"] = nlohmann::ordered_json::array();
  for (const FoldResult& f : m.folds) {
    j["folds"].push_back({{"threshold", f.threshold}, {"accuracy", f.accuracy}});
  }
  j["tar_at_far"] = nlohmann::ordered_json::array();
  for (const TarAtFar& t : m.tar_at_far) {
    nlohmann::ordered_json entry;
    entry["far"] = t.far;
    entry["tar"] = t.measurable ? nlohmann::ordered_json(t.tar) : nlohmann::ordered_json(nullptr);
    entry["threshold"] =
        t.measurable ? nlohmann::ordered_json(t.threshold) : nlohmann::ordered_json(nullptr);
    j["tar_at_far"].push_back(entry);
  }
  j["eer"] = m.eer;
  j["eer_threshold"] = m.eer_threshold;
  j["auc"] = m.auc;
  j["embedding_dim"] = report.embedding_dim;
  j["seconds"] = report.seconds;
  return j.dump(2);
}

std::string reportTable(const VerificationReport& report) {
  const VerificationMetrics& m = report.metrics;
  char line[160];
  std::snprintf(line, sizeof(line), ", %.1f s\n", report.seconds);
  std::string out = report.name + ": " + std::to_string(report.pairs) + " pairs (" +
                    std::to_string(m.positives) + " same / " + std::to_string(m.negatives) +
                    " diff), dim " + std::to_string(report.embedding_dim) + line;
  std::snprintf(line, sizeof(line), "  %-16s %7.3f%% ± %.3f%%  (%zu folds)\n", "accuracy",
                100.0 * m.accuracy_mean, 100.0 * m.accuracy_std, m.folds.size());
  out += line;
  for (const TarAtFar& t : m.tar_at_far) {
    char label[48];
    std::snprintf(label, sizeof(label), "TAR@FAR=%g", t.far);
    if (t.measurable) {
      std::snprintf(line, sizeof(line), "  %-16s %7.3f%%  (threshold %.4f)\n", label, 100.0 * t.tar,
                    t.threshold);
    } else {
      std::snprintf(line, sizeof(line), "  %-16s %8s  (needs >= %.0f negatives)\n", label, "n/a",
                    std::ceil((1.0 - 1e-9) / t.far));  // same tolerance as tarAtFar
    }
    out += line;
  }
  std::snprintf(line, sizeof(line), "  %-16s %7.3f%%  (threshold %.4f)\n", "EER", 100.0 * m.eer,
                m.eer_threshold);
  out += line;
  std::snprintf(line, sizeof(line), "  %-16s %8.5f\n", "AUC", m.auc);
  out += line;
  return out;
}

void writeRocCsv(const std::string& path, const std::vector<double>& scores,
                 const std::vector<int>& labels) {
  const std::vector<RocPoint> roc = rocCurve(scores, labels);
  // Write to a temp file, flush to disk, rename: a reader never sees a half-written ROC.
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw EvalError(tmp + ": cannot create ROC CSV: " + std::strerror(errno));
  bool ok = std::fputs("far,tar,threshold\n", f) >= 0;
  for (const RocPoint& p : roc) {
    ok = ok && std::fprintf(f, "%.17g,%.17g,%.17g\n", p.far, p.tar, p.threshold) > 0;
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  const int saved = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw EvalError(tmp + ": writing the ROC CSV failed: " + std::strerror(saved));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw EvalError(path + ": cannot rename " + tmp + " into place: " + ec.message());
  }
}

}  // namespace l2face::eval
