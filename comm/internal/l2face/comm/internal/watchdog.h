// The collective watchdog's vocabulary: the per-rank arrival board and the timeout report (the op
// kinds and their names are communicator.h's CollectiveKind).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// The latest collective one rank has entered.
struct Arrival {
  int rank = 0;
  uint64_t sequence = 0;   // 0: none yet
  int op = 0;              // a CollectiveKind
  bool responsive = true;  // false: its value could not be read in time (the rank is not in MPI)
};

// A side channel on which every rank posts "I entered collective #seq", readable by the others
// while the collective itself is stuck. Thread-safety: arrive() from the thread issuing
// collectives; read() from the thread that detects the timeout (same thread for MPI).
class ArrivalBoard {
 public:
  virtual ~ArrivalBoard() = default;
  // Cheap: no communication on the caller's path.
  virtual void arrive(uint64_t sequence, CollectiveKind op) = 0;
  // Every rank's latest arrival, spending at most budget_seconds waiting for unresponsive ranks.
  virtual std::vector<Arrival> read(double budget_seconds) = 0;
};

// "[l2face] rank R (host): collective <op> #<seq> did not complete within T s; ranks that did not
// arrive: [a, b]" followed, when they apply, by the ranks that could not be read and the ranks that
// entered a different collective under the same number (a broken same-order contract).
// arrivals empty: no side channel, the list reads "unknown".
std::string formatTimeoutMessage(int rank, const std::string& host, CollectiveKind op,
                                 uint64_t sequence, double timeout_seconds,
                                 const std::vector<Arrival>& arrivals);

// The ranks of arrivals that did not reach collective #sequence.
std::vector<int> ranksNotArrived(uint64_t sequence, const std::vector<Arrival>& arrivals);

// Writes message to stderr (one write, flushed) and ends the job with kCommFailureExitCode.
[[noreturn]] void endJob(const std::string& message);

}  // namespace l2face::comm
