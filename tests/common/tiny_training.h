// A tiny synthetic face corpus and the options of a short CPU training run on it, for tests.
#pragma once

#include <filesystem>
#include <string>

#include "l2face/data/synth.h"
#include "l2face/trainer/trainer.h"

namespace l2face::tiny {

// 8 identities × 8 images of 32 px for training; 4 × 2 for evaluation, 2 folds of 1 pair each.
inline void writeTinyCorpus(const std::filesystem::path& out, int threads) {
  data::SynthOptions s;
  s.out = out.string();
  s.identities = 8;
  s.images_per_identity = 8;
  s.eval_identities = 4;
  s.eval_images_per_identity = 2;
  s.pairs_per_fold = 1;
  s.folds = 2;
  s.size = 32;
  s.seed = 5;
  s.threads = threads;
  data::synthesizeCorpus(s);
}

// 4 steps of a width-4 backbone on the CPU with one thread (identical arithmetic in every run of
// a comparison), logging every 2 steps, no checkpoints kept but the latest.
inline trainer::TrainerOptions tinyTraining(const std::filesystem::path& corpus,
                                            const std::filesystem::path& run_dir, int batch) {
  trainer::TrainerOptions t;
  t.run.dir = run_dir.string();
  t.run.seed = 3;
  t.run.device = "cpu";
  t.run.threads = 1;
  t.data.train = (corpus / "train").string();
  t.data.batch_size = batch;
  t.data.workers = 1;
  t.data.image_size = 32;
  t.model.embedding_dim = 16;
  t.model.width = 4;
  t.optim.lr = 0.05;
  t.optim.schedule = "constant";
  t.optim.max_steps = 4;
  t.checkpoint.keep_last = 0;
  t.monitoring.log_every = 2;
  return t;
}

}  // namespace l2face::tiny
