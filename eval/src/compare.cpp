// Reading saved reports back and comparing them: table and plot series.
#include "l2face/eval/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "l2face/eval/errors.h"

namespace l2face::eval {
namespace {

using Json = nlohmann::json;

// The field `key` of `j`, or an error naming the file, the report and the field.
const Json& field(const Json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) throw EvalError(where + ": missing field '" + key + "'");
  return *it;
}

template <class T>
T get(const Json& j, const char* key, const std::string& where) {
  const Json& v = field(j, key, where);
  try {
    return v.get<T>();
  } catch (const Json::exception&) {
    throw EvalError(where + ": field '" + key + "' has the wrong type (" + v.type_name() + ")");
  }
}

SavedReport parseReport(const Json& j, const std::string& file, size_t index, bool several) {
  const std::string where = several ? file + ": reports[" + std::to_string(index) + "]" : file;
  if (!j.is_object()) throw EvalError(where + ": expected a report object");
  SavedReport saved;
  VerificationReport& r = saved.report;
  r.name = get<std::string>(j, "name", where);
  r.protocol = j.value("protocol", std::string());
  r.pairs = get<int64_t>(j, "pairs", where);
  r.embedding_dim = j.value("embedding_dim", 0);
  r.seconds = j.value("seconds", 0.0);
  VerificationMetrics& m = r.metrics;
  m.positives = get<int64_t>(j, "positives", where);
  m.negatives = get<int64_t>(j, "negatives", where);
  m.accuracy_mean = get<double>(j, "accuracy_mean", where);
  m.accuracy_std = get<double>(j, "accuracy_std", where);
  m.eer = get<double>(j, "eer", where);
  m.eer_threshold = get<double>(j, "eer_threshold", where);
  m.auc = get<double>(j, "auc", where);
  for (const Json& f : field(j, "folds", where)) {
    m.folds.push_back({get<double>(f, "threshold", where + " folds"),
                       get<double>(f, "accuracy", where + " folds")});
  }
  for (const Json& t : field(j, "tar_at_far", where)) {
    TarAtFar entry;
    entry.far = get<double>(t, "far", where + " tar_at_far");
    entry.measurable = !field(t, "tar", where + " tar_at_far").is_null();
    entry.tar = entry.measurable ? get<double>(t, "tar", where) : std::nan("");
    entry.threshold = entry.measurable ? get<double>(t, "threshold", where) : std::nan("");
    m.tar_at_far.push_back(entry);
  }
  if (j.contains("roc")) {
    const Json& roc = j["roc"];
    const auto far = get<std::vector<double>>(roc, "far", where + " roc");
    const auto tar = get<std::vector<double>>(roc, "tar", where + " roc");
    const auto thr = get<std::vector<double>>(roc, "threshold", where + " roc");
    if (far.size() != tar.size() || far.size() != thr.size()) {
      throw EvalError(where + ": roc far/tar/threshold lengths differ");
    }
    for (size_t i = 0; i < far.size(); ++i) saved.roc.push_back({far[i], tar[i], thr[i]});
  }
  saved.source = std::filesystem::path(file).filename().string() + ": " + r.name;
  return saved;
}

}  // namespace

std::vector<SavedReport> readReportJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw EvalError(path + ": cannot open report");
  Json j;
  try {
    j = Json::parse(in);
  } catch (const Json::parse_error& e) {
    throw EvalError(path + ": not a JSON report: " + e.what());
  }
  std::vector<SavedReport> out;
  if (j.is_object() && j.contains("reports")) {
    const Json& list = j["reports"];
    if (!list.is_array() || list.empty())
      throw EvalError(path + ": 'reports' is not a non-empty list");
    for (size_t i = 0; i < list.size(); ++i) out.push_back(parseReport(list[i], path, i, true));
  } else {
    out.push_back(parseReport(j, path, 0, false));
  }
  return out;
}

std::string compareTable(const std::vector<SavedReport>& reports) {
  if (reports.empty()) return "";
  const std::vector<TarAtFar>& columns = reports.front().report.metrics.tar_at_far;
  size_t width = 6;
  for (const SavedReport& s : reports) width = std::max(width, s.source.size());
  char cell[96];
  std::string out;
  std::snprintf(cell, sizeof(cell), "%-*s %8s  %-17s", static_cast<int>(width), "run", "pairs",
                "accuracy");
  out += cell;
  for (const TarAtFar& c : columns) {
    char label[32];
    std::snprintf(label, sizeof(label), "TAR@%g", c.far);
    std::snprintf(cell, sizeof(cell), " %10s", label);
    out += cell;
  }
  out += "       EER      AUC\n";
  for (const SavedReport& s : reports) {
    const VerificationMetrics& m = s.report.metrics;
    char accuracy[40];
    std::snprintf(accuracy, sizeof(accuracy), "%.3f%% ± %.3f", 100.0 * m.accuracy_mean,
                  100.0 * m.accuracy_std);
    // "±" is two bytes: pad by hand so the columns stay aligned.
    std::snprintf(cell, sizeof(cell), "%-*s %8lld  %-18s", static_cast<int>(width),
                  s.source.c_str(), static_cast<long long>(s.report.pairs), accuracy);
    out += cell;
    for (const TarAtFar& c : columns) {
      const TarAtFar* hit = nullptr;
      for (const TarAtFar& t : m.tar_at_far) {
        if (std::abs(t.far - c.far) <= 1e-12 * c.far) hit = &t;
      }
      if (hit && hit->measurable) {
        std::snprintf(cell, sizeof(cell), " %9.3f%%", 100.0 * hit->tar);
      } else {
        std::snprintf(cell, sizeof(cell), " %10s", "n/a");
      }
      out += cell;
    }
    std::snprintf(cell, sizeof(cell), " %8.3f%% %8.5f\n", 100.0 * m.eer, m.auc);
    out += cell;
  }
  return out;
}

RocSeries seriesOf(const SavedReport& saved) {
  if (saved.roc.empty()) {
    throw EvalError(saved.source +
                    ": the report has no ROC points to plot (written without "
                    "scores)");
  }
  return {saved.source, saved.roc, saved.report.metrics.eer, saved.report.metrics.auc};
}

RocSeries seriesOf(const VerificationReport& report, const std::string& label) {
  return {label, rocForPlot(rocCurve(report.scores, report.labels)), report.metrics.eer,
          report.metrics.auc};
}

}  // namespace l2face::eval
