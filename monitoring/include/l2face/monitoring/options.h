// Options of the monitoring module.
#pragma once

#include <string>

namespace l2face::monitoring {

struct MonitoringOptions {
  bool serve = true;                  // serve /metrics and /healthz during training
  int port = 9400;                    // metrics port of local rank 0 (+ local rank); 0 = ephemeral
  bool port_fallback = true;          // a busy port falls back to an ephemeral one (logged)
  std::string bind = "127.0.0.1";     // address the metrics endpoint binds to
  std::string job;                    // Prometheus job label; "" = the run directory's name
  std::string targets_dir;            // where file_sd target files go; "" = RUN_DIR/metrics
  int log_every = 20;                 // steps between progress lines (and host syncs for the loss)
};

}  // namespace l2face::monitoring
