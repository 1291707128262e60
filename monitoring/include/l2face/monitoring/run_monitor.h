// RunMonitor: a training rank's metrics endpoint, its registry and its Prometheus target file.
#pragma once

#include <memory>
#include <string>

#include "l2face/monitoring/exposer.h"
#include "l2face/monitoring/options.h"
#include "l2face/monitoring/training_metrics.h"

namespace l2face::monitoring {

struct RankIdentity {
  std::string job;        // Prometheus "job" label of the training run
  int rank = 0;
  int local_rank = 0;
  std::string host;
  std::string run_dir;
};

// Starts the exposer on monitoring.port + local_rank (0: ephemeral; a busy port falls back to an
// ephemeral one when monitoring.port_fallback is set), then writes
//   RUN_DIR/metrics/rank<R>.addr                  the bound host:port
//   <targets_dir>/<job>_rank<R>.json              a file_sd target for Prometheus
// (targets_dir defaults to RUN_DIR/metrics). With monitoring.serve = false nothing is served and
// only the registry exists. Thread-safe after construction.
class RunMonitor {
 public:
  RunMonitor(const MonitoringOptions& opt, const RankIdentity& id);
  ~RunMonitor();  // removes the target file, so Prometheus stops scraping a finished rank

  TrainingMetrics& metrics() { return *metrics_; }
  std::shared_ptr<Registry> registry() const { return registry_; }
  // "host:port" actually bound, or "" when not serving.
  std::string address() const { return exposer_ ? exposer_->address() : ""; }
  int port() const { return exposer_ ? exposer_->port() : -1; }

 private:
  std::shared_ptr<Registry> registry_;
  std::unique_ptr<TrainingMetrics> metrics_;
  std::unique_ptr<Exposer> exposer_;
  std::string target_file_;
};

}  // namespace l2face::monitoring
