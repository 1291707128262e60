// The training loop's entry point and its summary; no torch in this header.
#pragma once

#include <cstdint>
#include <string>

#include "l2face/checkpoint/options.h"
#include "l2face/comm/communicator.h"
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

struct TrainerOptions {
  RunOptions run;
  data::DataOptions data;
  ModelOptions model;
  HeadOptions head;
  ClassifierOptions classifier;
  OptimOptions optim;
  checkpoint::CheckpointOptions checkpoint;
  monitoring::MonitoringOptions monitoring;
  eval::EvalOptions eval;     // eval.every_steps > 0: rank 0 evaluates eval.pairs during training
  std::string config_digest;  // recorded in checkpoints for compatibility checks
};

struct TrainSummary {
  int64_t steps = 0;
  double final_loss = 0;        // mean over the last logging window
  double train_accuracy = 0;    // mean over the last logging window
  double images_per_second = 0; // global (all ranks) over the whole loop
  double seconds = 0;
  double data_wait_fraction = 0;
  int world_size = 1;
  double alpha = 0;             // the radius used (0 for the unconstrained softmax)
  double alpha_low = 0;         // the paper's bound for num_classes and head.p
  int64_t num_classes = 0;
  int64_t num_images = 0;
  int64_t decode_errors = 0;
  int64_t parameters = 0;       // backbone parameters
  std::string device;
  std::string checkpoint;       // the final committed checkpoint directory
  int64_t eval_step = -1;       // step of the last in-training evaluation (-1: none)
  double eval_accuracy = 0;     // its k-fold verification accuracy
};

// Trains on options.data.train and writes checkpoints under options.run.dir. Every rank calls it
// with the same options; rank 0 reports progress. Throws TrainError / data / checkpoint errors.
TrainSummary train(const TrainerOptions& options, comm::Communicator& comm,
                   const comm::RunContext& ctx);

std::string summaryJson(const TrainSummary& s);

}  // namespace l2face::trainer
