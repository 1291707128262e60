// BatchPlan: how the images of one optimizer step are split over the ranks — the per-rank batch
// and the gradient-accumulation steps — when the global batch is kept fixed (data.global_batch,
// or the checkpoint's with --keep-global-batch). Pure functions; no torch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "l2face/data/loader.h"  // data::Cursor
#include "l2face/data/options.h"
#include "l2face/trainer/options.h"

namespace l2face::trainer {

// What one optimizer step consumes: k loader batches of P·b images (S = P·b·k).
struct BatchPlan {
  int64_t global_batch = 0;  // S: images per optimizer step, all ranks together
  int ranks = 1;             // P
  int batch_per_rank = 0;    // b: images per rank in one loader batch (one micro-batch)
  int accumulate = 1;        // k: loader batches (micro-batches) per optimizer step
  // Where S came from: "" (data.batch_size × ranks × optim.accumulate_steps, as configured),
  // "data.global_batch", or "kept from checkpoint step_<N>".
  std::string origin;

  int64_t loaderBatch() const { return int64_t{batch_per_rank} * ranks; }  // G = P·b
  bool fixed() const { return !origin.empty(); }
};

// Splits S images per optimizer step over P ranks: the smallest k >= min_accumulate such that
// P·k divides S and b = S/(P·k) <= max_batch_per_rank (the largest micro-batch that fits a rank).
// Throws std::invalid_argument (a configuration error) when no k fits — P does not divide S, or
// min_accumulate > S/P — with a message naming S (and `origin`), P and the ways out: the rank
// counts up to 2P that can run S, and the data.global_batch values nearest S that P ranks can run
// (which change the run).
BatchPlan splitGlobalBatch(int64_t global_batch, int ranks, int max_batch_per_rank,
                           int min_accumulate, const std::string& origin = "data.global_batch");

// A checkpoint's global batch: images per optimizer step (manifest meta global_batch ×
// accumulate_steps) and the checkpoint's name (step_<N>).
struct SavedBatch {
  int64_t global_batch = 0;
  std::string name;
};

// The plan of a run on `ranks` ranks. S is data.global_batch when > 0; else, with
// keep_global_batch and a checkpoint to resume, the checkpoint's; else the configured
// data.batch_size × ranks × optim.accumulate_steps (today's meaning, origin ""). When S is fixed,
// data.batch_size is the largest per-rank batch and optim.accumulate_steps the smallest k
// (splitGlobalBatch). `warning` (may be null) is set when data.global_batch overrides a different
// kept global batch: the sample order then differs from the interrupted run's.
BatchPlan planBatch(const data::DataOptions& data, const OptimOptions& optim,
                    bool keep_global_batch, int ranks, const std::optional<SavedBatch>& saved,
                    std::string* warning);

// A checkpoint's data position carried over to this run's batches.
struct ContinuedCursor {
  data::Cursor cursor;  // in this run's global batches
  int64_t skipped = 0;  // samples of the epoch passed over to reach an optimizer-step boundary
};

// The checkpoint stopped `saved.step` global batches of `saved_batch` images into epoch
// `saved.epoch`; this run reads global batches of `global_batch` images, `accumulate` per
// optimizer step. It continues at its first optimizer-step boundary at or after the samples
// already consumed — exactly there (skipped = 0) when the images per optimizer step are the
// checkpoint's, since a checkpoint is always at an optimizer-step boundary. The cursor may equal
// the epoch's length (the epoch is over) or pass it (a larger step crossed the end).
ContinuedCursor continueCursor(data::Cursor saved, int64_t saved_batch, int64_t global_batch,
                               int accumulate);

// "global batch 16 over 1 rank(s): 8 images per rank x 2 accumulation steps (kept from
// checkpoint step_4)" — the line rank 0 prints when S is fixed.
std::string describeBatchPlan(const BatchPlan& plan);

}  // namespace l2face::trainer
