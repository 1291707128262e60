// RunConsole: what a run tells its user — rank 0's progress line, the loss-curve log
// (train_log.jsonl), warnings and tables printed without tearing the progress line.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include "l2face/monitoring/progress.h"

namespace l2face::trainer {

// One logging window as the run reports it (loss and accuracy: global means under data
// parallelism).
struct WindowReport {
  monitoring::ProgressSnapshot progress;
  int64_t skipped_total = 0;  // steps skipped for a non-finite loss or gradient, in all
};

// Not thread-safe; one owner (the training loop). Only the leader (rank 0) writes anything; on
// other ranks every method does nothing.
class RunConsole {
 public:
  RunConsole(bool leader, const std::string& run_dir);

  // Appends the window to train_log.jsonl and updates the progress line.
  void window(const WindowReport& w);
  // Prints `text` (whole lines) on stderr, with the progress line paused around it.
  void say(const std::string& text);
  // Pauses the progress line for text printed by the caller (see ProgressLine::Pause).
  [[nodiscard]] monitoring::ProgressLine::Pause pause() {
    return monitoring::ProgressLine::Pause(progress_.get());
  }
  // Ends the progress line for good (before the run's closing lines).
  void close() { progress_.reset(); }
  bool leader() const { return leader_; }

 private:
  bool leader_;
  std::unique_ptr<monitoring::ProgressLine> progress_;
  std::ofstream log_;
};

}  // namespace l2face::trainer
