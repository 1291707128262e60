// Helpers of the multi-rank tests: an MPI communicator, values as functions of rank and index.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"

namespace l2face::comm::testing {

// The mpi backend with a short watchdog timeout, so that a broken test ends instead of hanging.
inline std::unique_ptr<Communicator> mpiCommunicator(double timeout_seconds = 30) {
  CommOptions o;
  o.backend = Backend::kMpi;
  o.timeout_seconds = timeout_seconds;
  return makeCommunicator(o, runContextFromEnvironment());
}

// Small integers, exact in every dtype even when summed over 4 ranks (uint8 stays below 256).
template <typename T>
T valueAt(int rank, size_t i) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    return static_cast<T>((rank * 7 + i * 3) % 50);
  } else {
    return static_cast<T>(static_cast<int64_t>((rank + 1) * 7 + i * 13) % 101 - 50);
  }
}

// FNV-1a of a buffer, to compare results across ranks without moving them.
inline uint64_t fingerprint(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

// True when every rank passed the same fingerprint.
inline bool sameOnEveryRank(Communicator& c, uint64_t h) {
  std::vector<int64_t> all(static_cast<size_t>(c.size()));
  int64_t mine = static_cast<int64_t>(h);
  c.allGather(&mine, all.data(), 1, DType::kInt64);
  for (int64_t v : all) {
    if (v != mine) return false;
  }
  return true;
}

}  // namespace l2face::comm::testing
