// ProgressFile: RUN_DIR/progress.json, how far this process of the run has got — read by an outside
// supervisor (the elastic launcher) to time a restart and to see the steps reached before a
// failure.
#pragma once

#include <cstdint>
#include <string>

#include "l2face/trainer/internal/batch_plan.h"

namespace l2face::trainer {

// Not thread-safe; one owner (the training loop). Only the leader (rank 0) writes; on other ranks
// write() does nothing. The file is replaced atomically (a temporary file, then rename), so a
// reader sees the previous record or the new one, never a partial one:
//   {"step": steps done, "time": Unix seconds (float), "first_step_time": Unix seconds when
//    this process completed its first step (absent before it), "world_size": P,
//    "started_step": the step this process started at, "global_batch": S,
//    "batch_per_rank": b, "accumulate_steps": k, "restarts": n}
// It is written once as the loop starts (no "first_step_time": the plan is known, no step done),
// after the first step the process completes, and at every logging window.
// A failed write is reported once on stderr; training goes on.
class ProgressFile {
 public:
  ProgressFile(bool leader, const std::string& run_dir, const BatchPlan& plan, int64_t started_step,
               int64_t restarts);
  // stepped = false: the record of the start, before the first step (no first_step_time yet).
  void write(int64_t step, bool stepped = true);

 private:
  bool leader_;
  std::string path_;
  BatchPlan plan_;
  int64_t started_step_;
  int64_t restarts_;
  double first_step_time_ = -1;
  bool warned_ = false;
};

}  // namespace l2face::trainer
