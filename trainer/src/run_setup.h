// The set-up steps of a training run, each a named function: options, device and threads, the
// resume choice and the classifier placement, the model, and the data-parallel wrapper.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/trainer/internal/data_parallel.h"
#include "l2face/trainer/internal/run_checkpoint.h"
#include "l2face/trainer/trainer.h"

namespace l2face::trainer {

// Throws TrainError for options no run can start with (no training set, no steps, ...).
void checkRunOptions(const TrainerOptions& opt);

// Where and how the step computes.
struct Runtime {
  torch::Device device = torch::kCPU;
  bool bf16 = false;           // bf16 autocast around the backbone
  bool channels_last = false;  // NHWC input and convolution weights (run.channels_last)
  int threads = 1;             // intra-op threads of this rank
};

// Resolves run.device/precision/threads, seeds torch and sets its thread count; on the CPU it
// keeps freed memory in the heap (retainFreedHostMemory).
Runtime configureRuntime(const TrainerOptions& opt, const comm::RunContext& ctx);

// The classifier placement of this run (replicated or sharded): classifier.parallel, or what
// the resumed checkpoint holds when it is auto. Throws IncompatibleCheckpoint when the checkpoint
// holds another placement than the one asked for, or sampling needs a sharded one.
ClassifierPlacement choosePlacement(const TrainerOptions& opt, int world, int64_t num_classes,
                                    const std::optional<ResumeSource>& source);

// Backbone, head and (sharded) classifier, the modules' saved state loaded on the host when
// resuming (or, on a fresh start with model.init, the pretrained backbone: InitError when it does
// not fit), then moved to the device in training mode. Rank 0 reports the classifier's memory for
// loader_batch images per forward pass (all ranks: the run's per-rank batch × ranks).
TrainModel buildModel(const TrainerOptions& opt, const Runtime& rt, int64_t num_classes,
                      ClassifierPlacement placement, const std::optional<ResumeSource>& source,
                      comm::Communicator& comm, const comm::RunContext& ctx, int64_t loader_batch);

// Rank 0 prints α (or the scale s) against the paper's bound and returns the bound (0 when it
// does not apply).
double reportAlpha(const TrainerOptions& opt, const TrainModel& m, int64_t num_classes,
                   double alpha, bool leader);

// With more than one rank: every rank starts from rank 0's weights and buffers, and gradients are
// averaged in buckets while backward runs (BatchNorm statistics stay per rank, as in PyTorch DDP
// without SyncBN). Null for one rank. Collective.
std::unique_ptr<DataParallel> makeDataParallel(const TrainerOptions& opt, TrainModel& m,
                                               comm::Communicator& comm);

}  // namespace l2face::trainer
