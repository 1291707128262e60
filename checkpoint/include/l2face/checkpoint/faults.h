// Fault injection for the checkpoint protocol: a plan parsed from L2FACE_FAULT (reliability.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2face::checkpoint {

// Exit code of a process that an injected crash point ends (std::_Exit, no unwinding, no flush of
// anything but stderr): distinct from l2face's own codes so that a test can tell it apart.
inline constexpr int kInjectedCrashExitCode = 86;

// One injected fault: `name` applies on `rank` (-1: every rank) at checkpoint step `step`
// (-1: every step); `value` is the fault's parameter (milliseconds for checkpoint.slow_write).
struct Fault {
  std::string name;
  int rank = -1;
  int64_t step = -1;
  int64_t value = 0;
};

// The faults to inject, normally read from the environment variable L2FACE_FAULT:
//
//   L2FACE_FAULT="FAULT[,FAULT...]"    FAULT = NAME[=VALUE][@rankR][@stepN]
//
// Names the checkpoint module acts on (any other "checkpoint.*" name is an error; names of other
// modules are kept for them and ignored here):
//   checkpoint.write_fail            this rank's part of the save fails after its writers ran
//                                    (reported as "injected fault checkpoint.write_fail")
//   checkpoint.slow_write=MS         this rank's writers are delayed by MS milliseconds
//   checkpoint.crash_before_manifest the process exits (kInjectedCrashExitCode) after every rank's
//                                    files were agreed and before rank 0 writes the manifest
//   checkpoint.crash_before_latest   rank 0 exits after renaming step_<N>.tmp to step_<N> and
//                                    before LATEST is updated
// Plain value; thread-safe for concurrent reads (const methods).
class FaultPlan {
 public:
  FaultPlan() = default;  // no faults
  // Throws std::invalid_argument naming the bad part of `spec`.
  static FaultPlan parse(const std::string& spec);
  // parse(getenv("L2FACE_FAULT")), or no faults when it is unset or empty.
  static FaultPlan fromEnvironment();

  bool empty() const { return faults_.empty(); }
  const std::vector<Fault>& faults() const { return faults_; }
  // The first fault named `name` that applies to (rank, step), or nullptr.
  const Fault* find(const std::string& name, int rank, int64_t step) const;
  bool has(const std::string& name, int rank, int64_t step) const {
    return find(name, rank, step) != nullptr;
  }
  // Ends the process with kInjectedCrashExitCode when `name` applies to (rank, step), after one
  // line on stderr naming the fault. Returns otherwise.
  void crashPoint(const std::string& name, int rank, int64_t step) const;

 private:
  std::vector<Fault> faults_;
};

}  // namespace l2face::checkpoint
