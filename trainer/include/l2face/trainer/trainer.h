// The training loop's entry point and its summary; no torch in this header.
#pragma once

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "l2face/checkpoint/faults.h"
#include "l2face/checkpoint/options.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/options.h"
#include "l2face/comm/run_context.h"
#include "l2face/data/options.h"
#include "l2face/eval/options.h"
#include "l2face/monitoring/options.h"
#include "l2face/trainer/options.h"

namespace l2face::trainer {

class TrainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A checkpoint made with a configuration this run cannot continue (different backbone, embedding
// size, classes, head type, optimizer, ...); the message lists every mismatch. A usage error.
class IncompatibleCheckpoint : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The configured sections of a run: exactly what the YAML key table reads and writes (the option
// structs hold the defaults; nothing mirrors them).
struct TrainConfig {
  RunOptions run;
  data::DataOptions data;
  ModelOptions model;
  HeadOptions head;
  ClassifierOptions classifier;
  OptimOptions optim;
  checkpoint::CheckpointOptions checkpoint;
  monitoring::MonitoringOptions monitoring;
  eval::EvalOptions eval;  // eval.every_steps > 0: rank 0 evaluates the sets during training
  comm::CommOptions comm;  // backend, timeouts and gradient buckets of data-parallel training
};

// A run: its configuration plus what the command line and the process add.
struct TrainerOptions : TrainConfig {
  std::string config_digest;  // recorded in checkpoints for compatibility checks
  // none | auto (the run directory's newest valid checkpoint, if any) | a checkpoint or run dir.
  std::string resume = "none";
  // --keep-global-batch: when resuming, keep the checkpoint's images per optimizer step (its
  // global batch × accumulation steps) on this run's number of ranks, splitting it into per-rank
  // batches of at most data.batch_size and accumulation steps (trainer::planBatch);
  // data.global_batch, when set, wins. No effect on a fresh start.
  bool keep_global_batch = false;
  // Restarts of this job so far by an elastic supervisor (the CLI reads L2FACE_RESTARTS); reported
  // in metrics, summary.json and RUN_DIR/progress.json.
  int64_t restarts = 0;
  // Set (non-zero) by a signal handler to stop at the next step boundary with a checkpoint: the
  // ranks agree, save, and train() returns with TrainSummary::preempted.
  const std::atomic<int>* stop_requested = nullptr;
  // Fault injection for tests (docs/reliability.md), the one route for every injected fault:
  // train.nan_loss@stepN (the loss of 0-based optimizer step N is made NaN), train.hang,
  // train.kill_after_save, train.crash (exit 86 as the step begins), train.slow_step=MS (the step
  // waits MS ms) and the checkpoint.* faults. The CLI reads it from L2FACE_FAULT.
  checkpoint::FaultPlan faults;
};

struct TrainSummary {
  int64_t steps = 0;
  double final_loss = 0;         // mean over the last logging window and every rank's samples
  double train_accuracy = 0;     // mean over the last logging window and every rank's samples
  double images_per_second = 0;  // global (all ranks) over the whole loop
  double seconds = 0;
  double data_wait_fraction = 0;
  int world_size = 1;
  int64_t global_batch = 0;  // images per optimizer step, all ranks (batch_per_rank × ranks × k)
  int batch_per_rank = 0;    // images per rank per batch (micro-batch)
  int accumulate_steps = 1;  // batches per optimizer step
  int64_t restarts = 0;      // TrainerOptions::restarts
  double alpha = 0;      // the radius at the end (learned α: its final value; normalised
                         // heads: the scale s; 0 for the unconstrained softmax)
  double alpha_low = 0;  // the paper's bound for num_classes and head.p
  int64_t num_classes = 0;
  int64_t num_images = 0;
  int64_t decode_errors = 0;
  int64_t parameters = 0;     // backbone parameters
  int64_t skipped_steps = 0;  // optimizer steps skipped for a non-finite loss or gradient
  std::string device;
  std::string precision;     // fp32 | bf16 (the backbone's autocast)
  std::string checkpoint;    // the final committed checkpoint directory
  int64_t resumed_from_step = -1;  // the checkpoint's step when the run resumed (-1: fresh)
  bool preempted = false;          // stopped early on request, after a checkpoint
  int64_t eval_step = -1;    // step of the last in-training evaluation (-1: none)
  double eval_accuracy = 0;  // its k-fold verification accuracy
};

// Trains on options.data.train and writes checkpoints under options.run.dir. Every rank calls it
// with the same options; rank 0 reports progress. Throws TrainError / data / checkpoint errors,
// std::invalid_argument for options the model cannot take.
//
// One optimizer step consumes optim.accumulate_steps batches (with a fixed global batch:
// data.global_batch or --keep-global-batch, the per-rank batch and the accumulation steps that
// split it over the ranks, trainer::planBatch). A step whose loss or gradient is
// NaN/Inf is skipped on the device (parameters and optimizer state unchanged, no host sync) and
// counted; optim.max_nan_steps consecutive skips abort the run with TrainError, detected at the
// next logging boundary, so the abort can lag by up to monitoring.log_every steps. BatchNorm
// running statistics are updated in the forward pass and are not protected by the skip; a
// checkpoint is refused (TrainError) when any parameter or buffer is non-finite.
//
// `data` carries the tensors (gradients, classifier blocks); `control` (host memory, the same
// ranks: comm::makeCommPlanes) carries every agreement (resume choice, stop flag, window sums,
// checkpoint votes), so that nothing but tensors reaches a device backend.
TrainSummary train(const TrainerOptions& options, comm::Communicator& data,
                   comm::Communicator& control, const comm::RunContext& ctx);
// A host-memory communicator (local, mpi) as both planes; std::invalid_argument for a device
// backend, which needs a control plane of its own.
TrainSummary train(const TrainerOptions& options, comm::Communicator& comm,
                   const comm::RunContext& ctx);

std::string summaryJson(const TrainSummary& s);

}  // namespace l2face::trainer
