// Exposer: the HTTP endpoint Prometheus scrapes (GET /metrics, GET /healthz), on Boost.Beast.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "l2face/monitoring/metrics.h"

namespace l2face::monitoring {

// Limits against hostile clients (the reasoning is at the top of exposer.cpp). Construction throws
// MetricsError for a limit below 1 (max_header_bytes: below 64).
struct ExposerOptions {
  std::string bind = "127.0.0.1";   // 0.0.0.0 serves every interface: unauthenticated, plain HTTP
  int port = 0;                     // 0 = ephemeral
  bool fallback_to_ephemeral = true;  // when `port` is in use: an ephemeral port instead of an error
  // Open connections at most; one more closes the one that has waited longest for its request
  // (or, when all are busy answering, is itself closed at once).
  int max_connections = 64;
  int read_timeout_ms = 5000;       // a client that sends no complete request in time is dropped
  uint32_t max_header_bytes = 8192;  // request line + headers; larger: 400. Bodies: 4 KiB.
  // Serve from a thread at the lowest CPU priority (nice 19): where training keeps the cores
  // busy, a flood of requests gets a small share of one, so it cannot slow the step down.
  bool background_priority = true;
};

struct ExposerStats {
  uint64_t requests = 0;   // answered with 200
  uint64_t rejected = 0;   // 4xx/5xx answers, over-limit, evicted and timed-out connections
  uint64_t evicted = 0;    // of those: connections closed to admit a newer one
};

// Serves the registry on its own thread. Construction binds (throws MetricsError naming the address
// when it cannot, unless falling back); destruction stops and joins. All methods thread-safe.
class Exposer {
 public:
  Exposer(const ExposerOptions& opt, std::shared_ptr<const Registry> registry);
  ~Exposer();
  Exposer(const Exposer&) = delete;
  Exposer& operator=(const Exposer&) = delete;

  int port() const;
  std::string address() const;  // "host:port" actually bound
  ExposerStats stats() const;
  // /healthz answers 200 "ok" while this returns true, else 503 (default: always healthy).
  void setHealthCheck(std::function<bool()> healthy);

  struct Impl;  // the server state, defined in exposer.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2face::monitoring
