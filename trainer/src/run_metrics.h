// RunMetrics: the training loop's view of monitoring — what to record at which point of a step.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "l2face/checkpoint/collective.h"
#include "l2face/comm/grad_sync.h"
#include "l2face/comm/run_context.h"
#include "l2face/data/loader.h"
#include "l2face/eval/verification.h"
#include "l2face/monitoring/run_monitor.h"
#include "l2face/trainer/trainer.h"

namespace l2face::trainer {

// Not thread-safe; one owner (the training loop). The endpoint serves from its own thread.
class RunMetrics {
 public:
  RunMetrics(const TrainerOptions& opt, const comm::RunContext& ctx);
  void dataWait(double seconds);
  void classifierShard(int64_t classes);  // classes whose weights this rank holds
  void shape(int ranks, int64_t global_batch);  // ranks; images per optimizer step, all ranks
  void stepDone(int64_t samples);         // after the optimizer step
  // At a logging boundary (the host has synchronised anyway).
  void window(const TrainSummary& s, int64_t epoch, double lr, const data::LoaderStats& loader,
              const comm::GradSyncStats& sync);
  void evaluation(const eval::VerificationReport& r);
  // A save's outcome: duration (this rank's write + commit), size, success or failure.
  void checkpointOutcome(const checkpoint::SaveOutcome& outcome);

 private:
  std::unique_ptr<monitoring::RunMonitor> monitor_;
  std::chrono::steady_clock::time_point last_step_;
  int64_t decode_errors_ = 0, skipped_ = 0;
  uint64_t sync_bytes_ = 0;
  uint64_t sync_allreduces_ = 0;  // bucket all-reduces already observed
  double sync_exposed_ = 0;
};

}  // namespace l2face::trainer
