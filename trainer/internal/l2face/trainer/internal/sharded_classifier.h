// The model-parallel classifier: class weights split by rows over the ranks, an exact distributed
// softmax cross-entropy, and optional negative-class sampling (PartialFC's idea).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "distributed_cross_entropy.h"
#include "head.h"
#include "l2face/checkpoint/rows.h"
#include "l2face/comm/communicator.h"
#include "l2face/trainer/options.h"
#include "optimizer.h"
#include "row_sampler.h"

namespace l2face::trainer {

// Rows [begin, end) of C classes owned by `rank` of `world`: the balanced contiguous split that
// checkpoints use too (checkpoint::shardRange; sizes differ by at most one, the first C mod world
// ranks hold one more, a rank may hold none when world > C).
using ClassRange = checkpoint::RowRange;
inline ClassRange classRange(int64_t num_classes, int world, int rank) {
  return checkpoint::shardRange(num_classes, world, rank);
}

// kSharded or kReplicated for classifier.parallel (auto decides from the world size, the number
// of classes and classifier.sample_rate). Throws std::invalid_argument for a contradiction.
ClassifierPlacement resolveClassifierParallel(const ClassifierOptions& opt, int world,
                                              int64_t num_classes);

// Bytes one rank holds for its class shard (fp32): what the trainer reports at start and what the
// classifier benchmark compares the measured peak with.
struct ClassifierMemory {
  int64_t rows = 0;              // classes owned
  int64_t sampled_rows = 0;      // rows in one step's logits (rows when sample_rate = 1)
  int64_t weight_bytes = 0;      // weights + bias
  int64_t gradient_bytes = 0;    // their gradient (same size)
  int64_t optimizer_bytes = 0;   // momentum (sgd), two moments (adamw)
  int64_t logits_bytes = 0;      // global batch × sampled rows: one buffer, reused in place
  int64_t activation_bytes = 0;  // gathered features, their gradient, the sampled rows' copies
  int64_t total() const {
    return weight_bytes + gradient_bytes + optimizer_bytes + logits_bytes + activation_bytes;
  }
};
ClassifierMemory classifierMemory(const HeadOptions& head, const OptimOptions& optim,
                                  const ClassifierOptions& cls, int64_t num_classes, int dim,
                                  int world, int rank, int64_t global_batch);

// Rank r holds rows [begin_r, end_r) of the class weights (and bias), their gradient and their
// optimizer state; no rank holds the full C × d matrix. One step, for a local batch of B features
// per rank (the same B on every rank):
//   forward  — all-gather the constrained features (P·B × d) and labels; scores of the owned (or
//              sampled, RowSampler) rows, laid out class-major (rows × P·B); then
//              distributedCrossEntropy with the head's margin: margins applied on the rank that
//              owns the target; one MAX all-reduce of [row max of logits, row max of scores];
//              exp in place; one SUM all-reduce of [Σ exp, target logit, target score] (only the
//              owner contributes the target terms). loss_i = log Σ exp + max − target logit.
//   backward — ∂L/∂logits = (softmax − onehot)/(P·B) in place in the logits buffer; the shard's
//              weight gradient is accumulated locally (never all-reduced); the gradient of the
//              gathered features is reduce-scattered (SUM) back to the ranks owning the samples.
// L is the mean over the global batch. The feature gradient returned is P·∂L/∂f, which is the
// gradient of this rank's own mean loss: averaged over ranks by data parallelism, the backbone
// receives ∂L/∂θ, exactly as with a replicated classifier. Logits and softmax in the weights'
// dtype (fp32 in training, fp64 in tests).
//
// Negative-class sampling (classifier.sample_rate < 1): per forward, the rows kept are every class
// of the global batch that this rank owns plus a uniform random subset of its other rows, in all
// max(positives, ⌈rate · rows⌉); the choice is a function of (seed, call index, rank). Only the
// kept rows are read and updated: their gradient, momentum and weight decay; rows not kept in a
// step are untouched (no decay, no momentum drift), unlike PartialFC v2 whose dense optimizer
// moves every row each step. The kept rows are updated by optimizer.h's fused step.
//
// Every method that takes part in a step is a collective: call it on every rank in the same
// order. Not thread-safe; one owner.
class ShardedClassifier {
 public:
  ShardedClassifier(const HeadSpec& head, const OptimOptions& optim, const ClassifierOptions& cls,
                    int64_t num_classes, int dim, uint64_t seed, comm::Communicator& comm,
                    torch::Device device, torch::Dtype dtype = torch::kFloat);
  // The same with the spec resolved from the options (resolveHeadSpec).
  ShardedClassifier(const HeadOptions& head, const OptimOptions& optim,
                    const ClassifierOptions& cls, int64_t num_classes, int dim, uint64_t seed,
                    comm::Communicator& comm, torch::Device device,
                    torch::Dtype dtype = torch::kFloat);

  struct Output {
    torch::Tensor loss;          // 0-d, mean cross-entropy of this rank's samples (detached)
    torch::Tensor global_loss;   // 0-d, mean over the global batch (the same on every rank)
    torch::Tensor correct;       // 0-d int64: this rank's samples whose target has the top score
    torch::Tensor feature_grad;  // B × d: P·∂L/∂features · grad_scale, to backpropagate
  };
  // features: B × d constrained features (α·f/‖f‖, f/‖f‖, or f), detached; labels: B class
  // indices. Adds grad_scale · ∂L/∂W to the shard's gradient (grad_scale = 1/accumulate_steps).
  // call_index seeds the sampling (distinct per forward, the same on every rank).
  Output forwardBackward(const torch::Tensor& features, const torch::Tensor& labels,
                         double grad_scale, int64_t call_index);

  // Clears the gradient (of the rows touched since the last clear when sampling).
  void zeroGrad();
  // Σ g² of this rank's shard gradient (0-d, fp32, on the device; not reduced over ranks).
  torch::Tensor gradSquaredNorm() const;
  // Multiplies the gradient by factor (a 0-d tensor on the device): gradient clipping.
  void scaleGrad(const torch::Tensor& factor);
  // The optimizer step on the shard (the rows touched since zeroGrad when sampling), skipped on
  // the device when found_inf (0-d float) is 1. Local: no communication.
  void step(double lr, const torch::Tensor& found_inf);

  const ClassRange& range() const { return range_; }
  int64_t numClasses() const { return num_classes_; }
  torch::Tensor& weight() { return weight_; }  // rows × d
  torch::Tensor& bias() { return bias_; }      // rows, undefined without a bias
  const torch::Tensor& weightGrad() const { return weight_grad_; }
  const torch::Tensor& biasGrad() const { return bias_grad_; }
  // Optimizer state tensors (momentum of weight and bias; or moments and the step count).
  std::vector<torch::Tensor> optimizerState() const;
  // Checkpoint rows: this rank's rows × rowCols() fp32 on the host, a copy (the snapshot an
  // asynchronous save writes while training goes on). Columns, in order: weight (d), bias (1, when
  // the head has one), then per optimizer state (momentum; or exp_avg, exp_avg_sq) the same
  // blocks. rowLayout() names the blocks, e.g. ["weight:512", "bias:1", "momentum:512", ...].
  int64_t rowCols() const;
  std::vector<std::string> rowLayout() const;
  torch::Tensor snapshotRows() const;
  // Restores from rows × rowCols() fp32 (host) in rowLayout() order. std::invalid_argument when
  // the shape differs.
  void loadRows(const torch::Tensor& rows);
  // AdamW's step counts of weight and bias (the same on every rank); empty for SGD.
  std::vector<double> stepCounts() const;
  void setStepCounts(const std::vector<double>& counts);

  // For tests: keep a copy of each forward's ∂L/∂logits (rows kept × P·B, class-major,
  // grad_scale applied; the margin heads' buffer becomes ∂L/∂cos θ in place otherwise).
  void keepLogitsGrad(bool keep) { keep_logits_grad_ = keep; }
  const torch::Tensor& lastLogitsGrad() const { return last_logits_grad_; }
  // The global class indices of the rows of the last forward's logits.
  const torch::Tensor& lastRows() const { return last_rows_; }

 private:
  // One forward's rows: all owned (rows undefined) or the sampled subset.
  struct Selection {
    torch::Tensor rows;        // local indices of the kept rows (sampling), else undefined
    torch::Tensor w, bias;     // their weights (and bias)
    torch::Tensor target_row;  // per sample: its target's row in the logits, or −1
  };
  Selection selectRows(const torch::Tensor& global_labels, int64_t call_index);
  void computeScores(const Selection& sel, const torch::Tensor& features);
  MarginFn marginFn() const;
  torch::Tensor backward(const Selection& sel, const torch::Tensor& features);
  void backwardNormalised(const Selection& sel, const torch::Tensor& features,
                          torch::Tensor& feature_grad);
  void accumulateRowGrad(const torch::Tensor& rows, const torch::Tensor& grad,
                         const torch::Tensor& bias_grad);
  torch::Tensor touchedRows() const;

  HeadSpec spec_;
  OptimOptions optim_;
  int64_t num_classes_;
  int dim_;
  comm::Communicator& comm_;
  torch::Device device_;
  ClassRange range_;
  std::optional<RowSampler> sampler_;  // classifier.sample_rate < 1

  torch::Tensor weight_, bias_, weight_grad_, bias_grad_;
  FusedState weight_state_, bias_state_;  // optimizer state, one tensor per list
  // Sampling only: bool per row on the host, kept by a forward since zeroGrad (the sampler's rows
  // are on the host, so listing them needs no device read), and that list on the device.
  torch::Tensor touched_;
  mutable torch::Tensor touched_rows_;
  torch::Tensor logits_;     // the class-major logits buffer, then ∂L/∂logits
  torch::Tensor last_rows_;  // global indices of the rows in logits_
  bool keep_logits_grad_ = false;
  torch::Tensor last_logits_grad_;
};

}  // namespace l2face::trainer
