// Intervals measured where a step's waits happen: the host clock, or CUDA events on a stream.
#pragma once

#include <memory>
#include <vector>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// begin()/end() bracket one interval; collect() returns the intervals that have completed since
// the last call, in order, without blocking (an interval still pending on a device stays for a
// later call). Thread-safety: one owner (GradSync, under its mutex).
class IntervalClock {
 public:
  virtual ~IntervalClock() = default;
  virtual void begin() = 0;
  virtual void end() = 0;
  virtual std::vector<double> collect() = 0;  // seconds
};

// The host's steady clock: an interval is complete at end().
std::unique_ptr<IntervalClock> makeHostIntervalClock();
// A pair of CUDA events recorded on comm.computeStream() (read at each begin/end): the time the
// stream spent between them, i.e. waiting for the collectives made to precede end(). Events are
// pooled; elapsed times are read once both have completed. Throws CommError without CUDA.
std::unique_ptr<IntervalClock> makeCudaIntervalClock(const Communicator& comm);

}  // namespace l2face::comm
