// Classification heads: L2-constrained softmax (α·f/‖f‖ into a plain FC), softmax, and the
// normalised-weight heads NormFace, CosFace and ArcFace.
#pragma once

#include <torch/torch.h>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

// The α to use for an l2_softmax head: fixed, or the paper's lower bound when head.alpha is auto.
// 0 for every other head type.
double resolveAlpha(const HeadOptions& opt, int64_t num_classes);

// Rows [begin, end) of a head's initial class weights (rows × dim) and bias (rows; undefined
// without one). A function of (seed, row) only: any shard of any world size holds exactly the rows
// a replicated head of the same seed holds. Generated in blocks of kInitBlockRows rows, each from
// its own CPU generator. l2_softmax / softmax: U(−1/√dim, 1/√dim) for weights and bias (PyTorch's
// Linear default); normface / cosface / arcface: N(0, 0.01²) (PartialFC's), no bias.
inline constexpr int64_t kInitBlockRows = 1024;
struct ClassRows {
  torch::Tensor weight;
  torch::Tensor bias;
};
ClassRows initialClassRows(const HeadOptions& opt, int64_t begin, int64_t end, int dim,
                           uint64_t seed);

struct HeadOutput {
  torch::Tensor logits;  // N × C, fp32 (fp64 for a fp64 head), margins applied: the loss input
  torch::Tensor scores;  // the same without the margin: for accuracy and prediction
};

// Not thread-safe; one owner.
struct HeadImpl : torch::nn::Module {
  // Throws std::invalid_argument naming the key for an unknown type or a bad value.
  // with_classifier = false: the feature constraint (α) only, for a model-parallel classifier
  // that owns the class weights (forward() then throws std::logic_error).
  HeadImpl(const HeadOptions& opt, int embedding_dim, int64_t num_classes, uint64_t seed = 1,
           bool with_classifier = true);
  // The features the classifier sees: α·f/‖f‖ (l2_softmax), f (softmax), f/‖f‖ (normalised
  // heads). Computed in at least fp32 whatever the embedding's type.
  torch::Tensor constrain(const torch::Tensor& embeddings);
  // labels: N class indices; only the margin heads use them.
  HeadOutput forward(const torch::Tensor& embeddings, const torch::Tensor& labels);

  bool normalised() const { return normalised_; }
  bool alphaLearnable() const { return alpha_learnable_; }
  // α as a 0-d tensor on the head's device (reading it on the host is a synchronisation).
  const torch::Tensor& alphaTensor() const { return alpha_; }
  double alpha() const;  // 0 for the unconstrained softmax; s for the normalised heads

  std::string type;
  torch::Tensor alpha_;  // 0-d: a parameter when learnable, else a buffer; saved either way
  // C × d class weights: the paper's ordinary FC layer (l2_softmax, softmax: logits = W z + b),
  // or the normalised heads' class centres (normalised per use). Undefined without a classifier.
  torch::Tensor weight;
  torch::Tensor bias;  // C: l2_softmax and softmax with head.bias

 private:
  bool normalised_ = false;
  bool with_classifier_ = true;
  bool alpha_learnable_ = false;
  double scale_ = 0, angle_margin_ = 0, cosine_margin_ = 0;
};
TORCH_MODULE(Head);

}  // namespace l2face::trainer
