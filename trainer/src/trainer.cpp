// trainer::train: the public entry point — a TrainingRun set up and run — and summary.json.
#include "l2face/trainer/trainer.h"

#include <nlohmann/json.hpp>

#include "run_setup.h"
#include "training_run.h"

namespace l2face::trainer {

TrainSummary train(const TrainerOptions& opt, comm::Communicator& data, comm::Communicator& control,
                   const comm::RunContext& ctx) {
  checkRunOptions(opt);
  if (control.memoryKind() != comm::MemoryKind::kHost || control.size() != data.size() ||
      control.rank() != data.rank()) {
    throw std::invalid_argument(
        "train: the control communicator must take host memory and have "
        "the data communicator's ranks");
  }
  TrainingRun run(opt, data, control, ctx);
  return run.run();
}

TrainSummary train(const TrainerOptions& opt, comm::Communicator& comm,
                   const comm::RunContext& ctx) {
  return train(opt, comm, comm, ctx);
}

std::string summaryJson(const TrainSummary& s) {
  nlohmann::json j = {{"steps", s.steps},
                      {"final_loss", s.final_loss},
                      {"train_accuracy", s.train_accuracy},
                      {"images_per_second", s.images_per_second},
                      {"seconds", s.seconds},
                      {"data_wait_fraction", s.data_wait_fraction},
                      {"world_size", s.world_size},
                      {"global_batch", s.global_batch},
                      {"batch_per_rank", s.batch_per_rank},
                      {"accumulate_steps", s.accumulate_steps},
                      {"restarts", s.restarts},
                      {"alpha", s.alpha},
                      {"alpha_low", s.alpha_low},
                      {"num_classes", s.num_classes},
                      {"num_images", s.num_images},
                      {"decode_errors", s.decode_errors},
                      {"backbone_parameters", s.parameters},
                      {"skipped_steps", s.skipped_steps},
                      {"device", s.device},
                      {"precision", s.precision},
                      {"checkpoint", s.checkpoint},
                      {"resumed_from_step", s.resumed_from_step},
                      {"preempted", s.preempted}};
  if (s.eval_step >= 0) {
    j["eval"] = {{"step", s.eval_step}, {"accuracy", s.eval_accuracy}};
  }
  return j.dump(2) + "\n";
}

}  // namespace l2face::trainer
