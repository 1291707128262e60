// RunMonitor: exposer on port + local rank, address file and Prometheus file_sd target per rank.
#include "l2face/monitoring/run_monitor.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;

namespace l2face::monitoring {
namespace {

// Written to a temp name and renamed, so Prometheus never reads half a file.
void writeAtomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) throw MetricsError("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

RunMonitor::RunMonitor(const MonitoringOptions& opt, const RankIdentity& id)
    : registry_(std::make_shared<Registry>()) {
  std::string job = opt.job.empty() ? fs::path(id.run_dir).lexically_normal().filename().string() : opt.job;
  if (job.empty()) job = "l2face";
  metrics_ = std::make_unique<TrainingMetrics>(registry_, job, id.rank, id.host);
  if (!opt.serve) return;

  ExposerOptions eo;
  eo.bind = opt.bind;
  eo.port = opt.port == 0 ? 0 : opt.port + id.local_rank;
  eo.fallback_to_ephemeral = opt.port_fallback;
  exposer_ = std::make_unique<Exposer>(eo, registry_);
  if (eo.port != 0 && exposer_->port() != eo.port) {
    std::cerr << "[l2face] rank " << id.rank << ": metrics port " << eo.port
              << " is in use; serving on " << exposer_->address() << " instead\n";
  }

  // The address other machines should scrape: the host name when bound to every interface.
  std::string host = exposer_->address();
  host = host.substr(0, host.rfind(':'));
  if (host == "0.0.0.0" || host == "::") host = id.host.empty() ? "localhost" : id.host;
  const std::string target = host + ":" + std::to_string(exposer_->port());

  fs::path metrics_dir = fs::path(id.run_dir) / "metrics";
  fs::create_directories(metrics_dir);
  writeAtomically(metrics_dir / ("rank" + std::to_string(id.rank) + ".addr"), exposer_->address() + "\n");
  fs::path targets = opt.targets_dir.empty() ? metrics_dir : fs::path(opt.targets_dir);
  fs::create_directories(targets);
  target_file_ = (targets / (job + "_rank" + std::to_string(id.rank) + ".json")).string();
  writeAtomically(target_file_, "[{\"targets\": [\"" + jsonEscape(target) + "\"], \"labels\": {\"l2face_job\": \"" +
                                    jsonEscape(job) + "\"}}]\n");
}

RunMonitor::~RunMonitor() {
  if (!target_file_.empty()) {
    std::error_code ec;
    fs::remove(target_file_, ec);
  }
}

}  // namespace l2face::monitoring
