// CheckpointDuty: the training loop's checkpoint duties at step boundaries — when to save, the
// snapshot handed to the background writer, the collective commit, and what each outcome means.
#pragma once

#include <cstdint>
#include <string>

#include "l2face/checkpoint/async.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/trainer/internal/optimizer.h"
#include "l2face/trainer/internal/run_checkpoint.h"
#include "l2face/trainer/trainer.h"
#include "run_console.h"
#include "run_metrics.h"

namespace l2face::trainer {

// Not thread-safe; one owner (the training loop). Every method is collective over `control` (a
// host-memory communicator): every rank calls it at the same step boundary.
class CheckpointDuty {
 public:
  // resumed_step: the step of the checkpoint the run resumed from (-1: fresh start).
  CheckpointDuty(const TrainerOptions& opt, const comm::RunContext& ctx,
                 comm::Communicator& control, const ModelGeometry& geo, TrainModel& m,
                 Optimizer& optimizer, RunMetrics& metrics, RunConsole& console,
                 int64_t resumed_step);

  // At every step boundary: commits a save whose files are written.
  void poll();
  // Whether the schedule (checkpoint.every_steps / every_seconds) wants a save after `done` steps.
  bool due(int64_t done) { return schedule_.due(control_, done); }
  // Saves the run at `pos` (pos.step steps done): waits for the previous save, refuses non-finite
  // state (TrainError), snapshots to host memory and hands the files to the background writer;
  // `wait` (or checkpoint.async: false) commits before returning.
  void save(const RunPosition& pos, bool wait);
  // Waits for the save in flight and records its outcome.
  void finish();
  // At the end of a run that was not stopped early: the final state is saved and committed, or
  // TrainError (a run whose result is not on disk did not succeed; the same verdict everywhere).
  void saveFinal(const RunPosition& pos);

  int64_t lastSaved() const { return last_saved_; }
  const std::string& committedDir() const { return committed_dir_; }

 private:
  void record(const checkpoint::SaveOutcome& outcome);
  void refuseNonFinite(int64_t step);

  const TrainerOptions& opt_;
  const comm::RunContext& ctx_;
  comm::Communicator& control_;
  ModelGeometry geo_;
  TrainModel& m_;
  Optimizer& optimizer_;
  RunMetrics& metrics_;
  RunConsole& console_;
  checkpoint::AsyncCheckpointer writer_;
  checkpoint::SaveSchedule schedule_;
  int64_t last_saved_;
  int64_t last_committed_;
  std::string committed_dir_;
};

}  // namespace l2face::trainer
