// TrainingRun: one training run, set up in its constructor and told as one loop in run():
// the step, then the boundary duties — log window, evaluation, checkpoint, agreement to stop.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "checkpoint_duty.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/data/dataset.h"
#include "l2face/data/loader.h"
#include "l2face/trainer/internal/batch_plan.h"
#include "l2face/trainer/internal/data_parallel.h"
#include "l2face/trainer/internal/optimizer.h"
#include "l2face/trainer/internal/run_checkpoint.h"
#include "l2face/trainer/internal/step_counters.h"
#include "l2face/trainer/internal/train_step.h"
#include "l2face/trainer/trainer.h"
#include "periodic_eval.h"
#include "progress_file.h"
#include "run_console.h"
#include "run_metrics.h"
#include "run_setup.h"

namespace l2face::trainer {

// Not thread-safe; one owner. Every rank constructs one with the same options and calls run()
// once; the constructor and run() are collective.
class TrainingRun {
 public:
  TrainingRun(const TrainerOptions& opt, comm::Communicator& comm, comm::Communicator& control,
              const comm::RunContext& ctx);
  TrainSummary run();

 private:
  using Clock = std::chrono::steady_clock;

  // Set-up steps, in this order.
  void openData();
  void buildFromStart();
  void planBatches();
  void startLoop();
  // The step and the boundary duties.
  void trainStep(int64_t step, double lr);
  void initWarmup(int64_t step);
  void logWindow(int64_t done, double lr);
  void evaluate(int64_t done);
  bool agreeToStop();
  void stopForPreemption(int64_t done);
  TrainSummary finishRun(int64_t step);
  // Helpers of the duties.
  void stopOnNanRun(const StepCounters::Window& w, int64_t done);
  void warnSkipped(const StepCounters::Window& w, int64_t done);
  RunPosition positionAt(int64_t done) const;
  [[noreturn]] void hang(int64_t step) const;

  const TrainerOptions& opt_;
  comm::Communicator& comm_;
  const comm::RunContext& ctx_;
  const int world_;
  const int log_every_;
  // Control-path collectives (resume choice, checkpoint agreement, preemption, window means):
  // host memory, on a host channel of their own; comm_ carries only tensors.
  comm::Communicator& control_;
  Runtime rt_;

  std::shared_ptr<const data::Dataset> dataset_;
  int64_t num_classes_ = 0;
  std::unique_ptr<RunMetrics> metrics_;
  std::optional<ResumeSource> source_;
  // The per-rank batch and accumulation steps of every optimizer step (what data.batch_size and
  // optim.accumulate_steps mean for this run): set by planBatches, fixed from then on.
  BatchPlan batch_;
  ModelGeometry geo_;
  TrainModel m_;
  std::unique_ptr<Optimizer> optimizer_;
  RunPosition position_;  // where the run started (fresh or resumed)
  std::unique_ptr<data::Loader> loader_;
  std::unique_ptr<DataParallel> dp_;
  std::unique_ptr<PeriodicEval> eval_;  // rank 0, when eval.every_steps > 0
  std::unique_ptr<RunConsole> console_;
  std::unique_ptr<ProgressFile> progress_;  // RUN_DIR/progress.json (rank 0)
  std::unique_ptr<StepCounters> counters_;
  std::unique_ptr<CheckpointDuty> checkpoints_;
  std::unique_ptr<TrainStep> step_;
  TrainSummary summary_;

  Clock::time_point t0_;
  data::Cursor cursor_;  // the next global batch to read
  int64_t epoch_ = 0;    // of the last batch read
  int64_t window_steps_ = 0, window_start_ = 0, skipped_reported_ = 0;
  torch::Tensor grad_norm_;  // of the last step
  bool warming_ = false;     // the backbone's lr is scaled (model.init_warmup_steps)
};

}  // namespace l2face::trainer
