// Reports of a verification run: JSON, console table, ROC CSV, and atomic text files.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "l2face/eval/errors.h"
#include "l2face/eval/plot.h"
#include "l2face/eval/verification.h"

namespace l2face::eval {
namespace {

using Json = nlohmann::ordered_json;  // keeps the documented key order: diff-friendly reports

// One rate at an operating point: {at_key: at, rate_key: rate, "threshold": t}, the rate and
// threshold null when not measurable.
Json rateJson(const char* at_key, double at, const char* rate_key, bool measurable, double rate,
              double threshold) {
  Json entry;
  entry[at_key] = at;
  entry[rate_key] = measurable ? Json(rate) : Json(nullptr);
  entry["threshold"] = measurable ? Json(threshold) : Json(nullptr);
  return entry;
}

Json identificationJson(const VerificationReport& report) {
  Json out = Json::array();
  for (const IdentificationResult& r : report.identification) {
    Json g;
    g["gallery"] = r.gallery;
    g["gallery_templates"] = r.gallery_templates;
    g["gallery_subjects"] = r.gallery_subjects;
    g["mated"] = r.mated;
    g["nonmated"] = r.nonmated;
    g["ranks"] = Json::array();
    for (const RankAccuracy& k : r.ranks) {
      g["ranks"].push_back({{"rank", k.rank}, {"accuracy", k.accuracy}});
    }
    g["tpir_at_fpir"] = Json::array();
    for (const TpirAtFpir& t : r.tpir_at_fpir) {
      g["tpir_at_fpir"].push_back(
          rateJson("fpir", t.fpir, "tpir", t.measurable, t.tpir, t.threshold));
    }
    out.push_back(std::move(g));
  }
  return out;
}

Json toJson(const VerificationReport& report) {
  const VerificationMetrics& m = report.metrics;
  Json j;
  j["name"] = report.name;
  j["protocol"] = report.protocol;
  j["pairs"] = report.pairs;
  j["positives"] = m.positives;
  j["negatives"] = m.negatives;
  if (report.identities > 0) {
    j["images"] = report.images;
    j["identities"] = report.identities;
    j["accuracy_folds"] = "identities";
    j["accuracy_pairs"] = report.accuracy_pairs;
  }
  j["accuracy_mean"] = m.accuracy_mean;
  j["accuracy_std"] = m.accuracy_std;
  j["folds"] = Json::array();
  for (const FoldResult& f : m.folds) {
    j["folds"].push_back({{"threshold", f.threshold}, {"accuracy", f.accuracy}});
  }
  j["tar_at_far"] = Json::array();
  for (const TarAtFar& t : m.tar_at_far) {
    Json entry = rateJson("far", t.far, "tar", t.measurable, t.tar, t.threshold);
    entry["impostors_above_threshold"] = t.measurable ? Json(t.false_accepts) : Json(nullptr);
    entry["resolved"] = t.resolved;
    j["tar_at_far"].push_back(std::move(entry));
  }
  j["eer"] = m.eer;
  j["eer_threshold"] = m.eer_threshold;
  j["auc"] = m.auc;
  j["embedding_dim"] = report.embedding_dim;
  j["seconds"] = report.seconds;
  if (!report.scores.empty()) {
    Json roc = {{"far", Json::array()}, {"tar", Json::array()}, {"threshold", Json::array()}};
    for (const RocPoint& p : rocForPlot(rocCurve(report.scores, report.labels))) {
      roc["far"].push_back(p.far);
      roc["tar"].push_back(p.tar);
      roc["threshold"].push_back(p.threshold);
    }
    j["roc"] = std::move(roc);
  }
  if (!report.identification.empty()) j["identification"] = identificationJson(report);
  return j;
}

// Negatives needed before FAR `far` allows one false accept (same tolerance as tarAtFar).
double negativesNeeded(double far) { return std::ceil((1.0 - 1e-9) / far); }

// The 1:N lines of reportTable: per gallery its size, the CMC ranks and TPIR at each FPIR.
std::string identificationTable(const VerificationReport& report) {
  std::string out;
  char line[200];
  for (const IdentificationResult& r : report.identification) {
    std::snprintf(line, sizeof(line),
                  "  1:N %s: %lld templates of %lld subjects; %lld mated, %lld non-mated probes\n",
                  r.gallery.c_str(), static_cast<long long>(r.gallery_templates),
                  static_cast<long long>(r.gallery_subjects), static_cast<long long>(r.mated),
                  static_cast<long long>(r.nonmated));
    out += line;
    for (const RankAccuracy& k : r.ranks) {
      char label[48];
      std::snprintf(label, sizeof(label), "rank-%d", k.rank);
      std::snprintf(line, sizeof(line), "    %-14s %7.3f%%\n", label, 100.0 * k.accuracy);
      out += line;
    }
    for (const TpirAtFpir& t : r.tpir_at_fpir) {
      char label[48];
      std::snprintf(label, sizeof(label), "TPIR@FPIR=%g", t.fpir);
      if (t.measurable) {
        std::snprintf(line, sizeof(line), "    %-14s %7.3f%%  (threshold %.4f)\n", label,
                      100.0 * t.tpir, t.threshold);
      } else {
        std::snprintf(line, sizeof(line), "    %-14s not measurable with %lld non-mated probes\n",
                      label, static_cast<long long>(r.nonmated));
      }
      out += line;
    }
  }
  return out;
}

}  // namespace

std::string reportJson(const VerificationReport& report) { return toJson(report).dump(2); }

std::string reportsJson(const std::vector<VerificationReport>& reports) {
  Json j;
  j["reports"] = Json::array();
  for (const VerificationReport& r : reports) j["reports"].push_back(toJson(r));
  return j.dump(2);
}

std::string reportTable(const VerificationReport& report) {
  const VerificationMetrics& m = report.metrics;
  char line[200];
  const bool all_vs_all = report.identities > 0;
  std::string out = report.name + ": " + std::to_string(report.pairs) + " pairs (" +
                    std::to_string(m.positives) + (all_vs_all ? " genuine / " : " same / ") +
                    std::to_string(m.negatives) + (all_vs_all ? " impostor" : " diff") + ")";
  if (all_vs_all) {
    out += " of " + std::to_string(report.images) + " images, " +
           std::to_string(report.identities) + " identities";
  }
  if (report.embedding_dim > 0) out += ", dim " + std::to_string(report.embedding_dim);
  std::snprintf(line, sizeof(line), ", %.1f s\n", report.seconds);
  out += line;
  std::snprintf(line, sizeof(line), "  %-16s %7.3f%% ± %.3f%%  (%zu folds", "accuracy",
                100.0 * m.accuracy_mean, 100.0 * m.accuracy_std, m.folds.size());
  out += line;
  if (all_vs_all) {
    out += " of identities, " + std::to_string(report.accuracy_pairs) + " pairs within a fold";
  }
  out += ")\n";
  std::string unmeasurable;
  for (const TarAtFar& t : m.tar_at_far) {
    if (!t.measurable) {
      std::snprintf(line, sizeof(line), "%s%g (needs >= %.0f)", unmeasurable.empty() ? "" : ", ",
                    t.far, negativesNeeded(t.far));
      unmeasurable += line;
      continue;
    }
    char label[48];
    std::snprintf(label, sizeof(label), "TAR@FAR=%g", t.far);
    std::snprintf(line, sizeof(line), "  %-16s %7.3f%%  (threshold %.4f)", label, 100.0 * t.tar,
                  t.threshold);
    out += line;
    if (!t.resolved) {
      std::snprintf(line, sizeof(line), "  unresolved: %g × %lld negatives < %lld", t.far,
                    static_cast<long long>(m.negatives),
                    static_cast<long long>(kResolvedFalseAccepts));
      out += line;
    }
    out += "\n";
  }
  if (!unmeasurable.empty()) {
    out += "  TAR not measurable with " + std::to_string(m.negatives) + " negatives at FAR " +
           unmeasurable + "\n";
  }
  std::snprintf(line, sizeof(line), "  %-16s %7.3f%%  (threshold %.4f)\n", "EER", 100.0 * m.eer,
                m.eer_threshold);
  out += line;
  std::snprintf(line, sizeof(line), "  %-16s %8.5f\n", "AUC", m.auc);
  out += line;
  return out + identificationTable(report);
}

namespace {

// A file written under a temporary name, flushed to disk and renamed into place by commit(): a
// reader never sees a half-written file. Removes the temporary file if not committed.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path) : path_(path), tmp_(path + ".tmp") {
    file_ = std::fopen(tmp_.c_str(), "w");
    if (!file_) throw EvalError(tmp_ + ": cannot create: " + std::strerror(errno));
  }
  ~AtomicFile() {
    if (file_) std::fclose(file_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  FILE* get() { return file_; }

  void commit(bool written_ok) {
    bool ok = written_ok && std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
    const int saved = errno;
    ok = (std::fclose(file_) == 0) && ok;
    file_ = nullptr;
    if (!ok) throw EvalError(tmp_ + ": writing failed: " + std::strerror(saved));
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) throw EvalError(path_ + ": cannot rename " + tmp_ + " into place: " + ec.message());
    committed_ = true;
  }

 private:
  std::string path_, tmp_;
  FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace

void writeTextFile(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.commit(std::fwrite(text.data(), 1, text.size(), file.get()) == text.size());
}

void writeScoresCsv(const std::string& path, const std::vector<double>& scores,
                    const std::vector<int>& labels) {
  if (scores.size() != labels.size()) {
    throw EvalError(path + ": " + std::to_string(scores.size()) + " scores but " +
                    std::to_string(labels.size()) + " labels");
  }
  AtomicFile file(path);
  bool ok = std::fputs("label,score\n", file.get()) >= 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    ok = ok && std::fprintf(file.get(), "%d,%.17g\n", labels[i], scores[i]) > 0;
  }
  file.commit(ok);
}

void writeNpy(const std::string& path, const std::vector<float>& values, size_t rows, int dim) {
  if (dim < 1 || values.size() != rows * static_cast<size_t>(dim)) {
    throw EvalError(path + ": " + std::to_string(values.size()) + " floats are not " +
                    std::to_string(rows) + " rows of " + std::to_string(dim));
  }
  static_assert(sizeof(float) == 4, "float32");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(dim) + "), }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64,
  // ending in a newline.
  const size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  const uint16_t length = static_cast<uint16_t>(header.size());
  std::string preamble = std::string("\x93NUMPY\x01\x00", 8);
  preamble += static_cast<char>(length & 0xff);
  preamble += static_cast<char>(length >> 8);
  AtomicFile file(path);
  bool ok = std::fwrite(preamble.data(), 1, preamble.size(), file.get()) == preamble.size();
  ok = ok && std::fwrite(header.data(), 1, header.size(), file.get()) == header.size();
  ok = ok && std::fwrite(values.data(), sizeof(float), values.size(), file.get()) == values.size();
  file.commit(ok);
}

void writeRocCsv(const std::string& path, const std::vector<double>& scores,
                 const std::vector<int>& labels) {
  const std::vector<RocPoint> roc = rocCurve(scores, labels);
  AtomicFile file(path);
  // Streamed: the ROC of an IJB-C-sized set has millions of points.
  bool ok = std::fputs("far,tar,threshold\n", file.get()) >= 0;
  for (const RocPoint& p : roc) {
    ok = ok && std::fprintf(file.get(), "%.17g,%.17g,%.17g\n", p.far, p.tar, p.threshold) > 0;
  }
  file.commit(ok);
}

}  // namespace l2face::eval
