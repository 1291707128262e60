// Verification during training: rank 0 evaluates the configured sets with the current backbone.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "l2face/eval/options.h"
#include "l2face/eval/suite.h"
#include "l2face/eval/verification.h"
#include "l2face/trainer/internal/backbone.h"

namespace l2face::trainer {

// Not thread-safe; one owner (the training loop on rank 0).
class PeriodicEval {
 public:
  // Reads and checks every configured set now (pairs, .bin sets, templates), so a bad file fails
  // at start-up, not hours later.
  PeriodicEval(const eval::EvalOptions& opt, int image_size);
  bool due(int64_t step) const { return opt_.every_steps > 0 && step % opt_.every_steps == 0; }
  // Switches the backbone to inference mode for the evaluation and back to training mode.
  // One report per configured set, in the suite's order.
  std::vector<eval::VerificationReport> run(BackboneImpl& net, const torch::Device& device);

 private:
  eval::EvalOptions opt_;
  int image_size_;
  eval::EvalSuite suite_;
};

}  // namespace l2face::trainer
