// TrainStep: the body of one training step, shared by the training loop and bench/step.
#include "l2face/trainer/internal/train_step.h"

#include <cmath>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "l2face/trainer/internal/batch_transfer.h"
#include "l2face/trainer/internal/input.h"
#include "l2face/trainer/internal/precision.h"
#include "l2face/trainer/internal/sharded_classifier.h"
#include "l2face/trainer/internal/tensor_comm.h"

namespace l2face::trainer {

TrainStep::TrainStep(TrainModel& m, Optimizer& optimizer, comm::Communicator& comm,
                     DataParallel* dp, const StepConfig& config)
    : m_(m),
      optimizer_(optimizer),
      comm_(comm),
      dp_(dp),
      config_(config),
      transfer_(std::make_unique<BatchTransfer>(config.device)) {}

TrainStep::~TrainStep() = default;

void TrainStep::begin(int64_t step) {
  step_ = step;
  optimizer_.zeroGrad();
  if (dp_) dp_->zeroGrad();  // bucket views: back in place and zeroed
  if (m_.classifier) m_.classifier->zeroGrad();
  step_loss_ = torch::zeros({}, torch::TensorOptions().device(config_.device));
  correct_ = torch::zeros({}, torch::TensorOptions().device(config_.device).dtype(torch::kLong));
}

void TrainStep::microBatch(const data::Batch& batch, int micro, bool poisoned) {
  const int accumulate = config_.accumulate;
  if (dp_) dp_->setSync(micro == accumulate - 1);
  // On CUDA: pixels and labels copied on a side stream; the batch's memory is fenced until then.
  const DeviceBatch on_device = (*transfer_)(batch);
  torch::Tensor x = toInput(on_device.pixels, config_.channels_last);
  const torch::Tensor& y = on_device.labels;
  torch::Tensor embeddings;
  {
    AutocastGuard autocast(config_.device, config_.bf16);
    embeddings = m_.backbone->forward(x);
  }
  if (m_.classifier) {
    // Features on this rank, classes on their owners: the classifier returns the gradient of this
    // rank's features, and backward continues through the constraint (α) and the backbone, whose
    // gradients data parallelism averages.
    torch::Tensor features = m_.head->constrain(embeddings);
    ShardedClassifier::Output out = m_.classifier->forwardBackward(
        features.detach(), y, 1.0 / accumulate, step_ * accumulate + micro);
    torch::Tensor feature_grad = out.feature_grad;
    torch::Tensor loss = out.loss;
    if (poisoned) {
      loss = loss * std::nan("");
      feature_grad = feature_grad * std::nan("");
    }
    features.backward(feature_grad);
    step_loss_ += loss;
    correct_ += out.correct;
  } else {
    HeadOutput out = m_.head->forward(embeddings, y);  // fp32 head, logits and softmax
    torch::Tensor loss = torch::nn::functional::cross_entropy(out.logits, y);
    if (poisoned) loss = loss * std::nan("");
    (accumulate > 1 ? loss / accumulate : loss).backward();
    step_loss_ += loss.detach();
    correct_ += out.scores.detach().argmax(1).eq(y).sum();
  }
}

GradientCheck TrainStep::finish(double lr, bool poisoned, StepCounters& counters) {
  if (dp_) dp_->finish();
  step_loss_ /= config_.accumulate;
  // Every rank must take the same decision: under data parallelism the averaged gradients are
  // identical everywhere (a rank's NaN reaches all of them), while a rank's own loss is not.
  // A sharded classifier's gradient differs per rank: its squared norm is summed over ranks
  // so that the norm, the clipping factor and the skip decision are the same everywhere.
  torch::Tensor shard_sq;
  if (m_.classifier) {
    shard_sq = m_.classifier->gradSquaredNorm();
    allReduceTensor(comm_, shard_sq, comm::ReduceOp::kSum);
    if (poisoned) shard_sq = shard_sq * std::nan("");
  }
  GradientCheck check =
      checkGradients(optimizer_.grads(), config_.clip_grad_norm, dp_ ? torch::Tensor() : step_loss_,
                     shard_sq, [&](const torch::Tensor& factor) {
                       if (m_.classifier) m_.classifier->scaleGrad(factor);
                     });
  optimizer_.step(lr, check.found_inf);
  if (m_.classifier) m_.classifier->step(lr, check.found_inf);
  counters.add(step_loss_, correct_, check.found_inf);
  return check;
}

void retainFreedHostMemory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);         // large blocks from the heap too (reused, not re-faulted)
  mallopt(M_TRIM_THRESHOLD, -1);  // never hand the heap's free top back to the kernel
#endif
}

}  // namespace l2face::trainer
