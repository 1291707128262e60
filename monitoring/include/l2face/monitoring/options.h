// Options of the monitoring module.
#pragma once

#include <string>

namespace l2face::monitoring {

struct MonitoringOptions {
  int port = 9400;                    // metrics port of local rank 0 (+ local rank); 0 = ephemeral
  std::string bind = "127.0.0.1";     // address the metrics endpoint binds to
  int log_every = 20;                 // steps between progress lines (and host syncs for the loss)
};

}  // namespace l2face::monitoring
