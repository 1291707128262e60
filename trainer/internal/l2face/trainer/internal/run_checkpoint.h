// A training run's checkpoints: what each rank saves (snapshot to host memory, written by the
// checkpoint module's background thread), and resuming — exactly, or on a different number of
// ranks with the class rows re-sharded.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "backbone.h"
#include "head.h"
#include "l2face/checkpoint/async.h"
#include "l2face/comm/communicator.h"
#include "l2face/data/loader.h"
#include "model_state.h"
#include "optimizer.h"
#include "sharded_classifier.h"

namespace l2face::trainer {

// The trained state of a run.
struct TrainModel {
  std::shared_ptr<BackboneImpl> backbone;
  Head head{nullptr};  // the feature constraint, and the class weights when replicated
  std::unique_ptr<ShardedClassifier> classifier;  // the class weights when sharded
  nlohmann::json init;  // the pretrained backbone the run started from (model.init), or null
};

// Where a run stands at a step boundary.
struct RunPosition {
  int64_t step = 0;          // optimizer steps done
  data::Cursor cursor;       // the next global batch to read
  int64_t global_batch = 0;  // images per global (loader) batch: per-rank batch × world
  int accumulate = 1;        // global batches per optimizer step
  int64_t skipped_steps = 0;
};

// Checkpoint layout (RUN_DIR/checkpoints/step_<N>/):
//   backbone.pt, head.pt, optimizer.pt, rng.pt   rank 0: the replicated state (head.pt holds α,
//                                                 and the class weights when replicated)
//   classifier.shard-<r>.bin                     rank r of a sharded run: its class rows with
//                                                 their optimizer state (checkpoint row file)
//   manifest.json meta: model geometry, position (step, cursor, samples), config digest, α,
//                       optimizer, classifier placement, shard table, row layout, step counts,
//                       and "init" (path, kind, file, xxh64) for a run started from model.init.
//
// This rank's files as jobs for checkpoint::AsyncCheckpointer: the state is copied to host memory
// here, on the training thread; the jobs only write those copies.
std::vector<checkpoint::FileJob> snapshotJobs(TrainModel& m, const Optimizer& optimizer, int rank);
nlohmann::json checkpointMeta(const ModelGeometry& geo, OptimType optim_type,
                              const std::string& config_digest, const TrainModel& m,
                              const RunPosition& pos, int world);

// A checkpoint chosen for resuming: the committed directory and its manifest meta.
struct ResumeSource {
  std::string dir;
  int world_size = 1;
  nlohmann::json meta;
  // kSharded or kReplicated (replicated when the meta names none: older checkpoints).
  ClassifierPlacement placement() const;
  // The optimizer the checkpoint was made with (sgd when the meta names none).
  OptimType optimizer() const;
  // Images per optimizer step (meta global_batch × accumulate_steps); IncompatibleCheckpoint when
  // the manifest records none.
  int64_t globalBatch() const;
};

// resume_spec: "none", "auto" (the newest valid checkpoint of run_dir, if any) or a path (a
// checkpoint or run directory; an error when it holds none). Rank 0 resolves and verifies it
// (checksums; a broken newest checkpoint is reported and the previous valid one used), then
// broadcasts the choice. Collective. std::nullopt: start from scratch.
std::optional<ResumeSource> findResumeSource(const std::string& resume_spec,
                                             const std::string& run_dir, comm::Communicator& comm);

// Refuses (IncompatibleCheckpoint, listing every mismatch) a checkpoint whose backbone, embedding
// size, norm, width, image size, number of classes, head type, bias, learned α or optimizer type
// differ from this run's.
void checkCompatible(const ResumeSource& src, const ModelGeometry& geo, OptimType optim_type);

// Loads the optimizer state, the RNG state, the class rows and the init record into a model built
// for this run (on any number of ranks: sharded class rows are read from the overlapping old
// shards; the modules' backbone.pt and head.pt are loaded by the caller, on the host, before moving
// them to the device) and returns where the run continues: the step, and the data cursor continuing
// the same global sample sequence at this run's global batch (fresh.global_batch) and accumulation
// (fresh.accumulate): the first optimizer-step boundary at or after the samples already seen —
// exact when the images per optimizer step are those of the checkpoint, else with a warning on
// rank 0 naming the samples skipped. Collective only through what the caller does next; reads
// files only.
RunPosition restoreState(const ResumeSource& src, TrainModel& m, Optimizer& optimizer,
                         const RunPosition& fresh, int rank);

}  // namespace l2face::trainer
