// Classification heads: L2-constrained softmax (α·f/‖f‖ into a plain FC), softmax, and the
// normalised-weight heads NormFace, CosFace and ArcFace.
#pragma once

#include <torch/torch.h>

#include "l2face/trainer/options.h"
#include "margin.h"

namespace l2face::trainer {

// The α to use for an l2_softmax head: fixed, or the paper's lower bound when head.alpha is auto.
// 0 for every other head type.
double resolveAlpha(const HeadOptions& opt, int64_t num_classes);

// What a head type means, resolved and validated once from HeadOptions; the replicated head and
// the sharded classifier both work from it (neither looks at the type again).
struct HeadSpec {
  HeadType type = HeadType::kL2Softmax;
  bool unit_features = true;     // features L2-normalised (every head but softmax)
  bool normalised = false;       // class weights normalised too: logits s·cos θ, no bias
  bool bias = false;             // classifier bias (l2_softmax, softmax with head.bias)
  bool alpha_learnable = false;  // α trained (l2_softmax)
  double alpha = 0;              // α (l2_softmax), s (normalised heads), 0 (softmax)
  Margin margin;                 // the normalised heads' target margin
};
// Throws std::invalid_argument naming the key for a bad value.
HeadSpec resolveHeadSpec(const HeadOptions& opt, int64_t num_classes);

// Each row divided by its L2 norm (clamped at 1e-12, so a zero row stays finite).
torch::Tensor unitRows(const torch::Tensor& t);

// Rows [begin, end) of a head's initial class weights (rows × dim) and bias (rows; undefined
// without one). A function of (seed, row) only: any shard of any world size holds exactly the rows
// a replicated head of the same seed holds. Generated in blocks of kInitBlockRows rows, each from
// its own CPU generator. l2_softmax / softmax: U(−1/√dim, 1/√dim) for weights and bias (PyTorch's
// Linear default); normalised heads: N(0, 0.01²) (PartialFC's), no bias.
inline constexpr int64_t kInitBlockRows = 1024;
struct ClassRows {
  torch::Tensor weight;
  torch::Tensor bias;
};
ClassRows initialClassRows(const HeadSpec& spec, int64_t begin, int64_t end, int dim,
                           uint64_t seed);

struct HeadOutput {
  torch::Tensor logits;  // N × C, fp32 (fp64 for a fp64 head), margins applied: the loss input
  torch::Tensor scores;  // the same without the margin: for accuracy and prediction
};

// Not thread-safe; one owner.
struct HeadImpl : torch::nn::Module {
  // with_classifier = false: the feature constraint (α) only, for a model-parallel classifier
  // that owns the class weights (forward() then throws std::logic_error).
  HeadImpl(const HeadSpec& spec, int embedding_dim, int64_t num_classes, uint64_t seed = 1,
           bool with_classifier = true);
  // The same from the options (resolveHeadSpec: std::invalid_argument naming the key).
  HeadImpl(const HeadOptions& opt, int embedding_dim, int64_t num_classes, uint64_t seed = 1,
           bool with_classifier = true);
  // The features the classifier sees: α·f/‖f‖ (l2_softmax), f (softmax), f/‖f‖ (normalised
  // heads). Computed in at least fp32 whatever the embedding's type.
  torch::Tensor constrain(const torch::Tensor& embeddings);
  // labels: N class indices; only the margin heads use them.
  HeadOutput forward(const torch::Tensor& embeddings, const torch::Tensor& labels);

  const HeadSpec& spec() const { return spec_; }
  bool normalised() const { return spec_.normalised; }
  bool alphaLearnable() const { return spec_.alpha_learnable; }
  // α as a 0-d tensor on the head's device (reading it on the host is a synchronisation).
  const torch::Tensor& alphaTensor() const { return alpha_; }
  double alpha() const;  // 0 for the unconstrained softmax; s for the normalised heads

  torch::Tensor alpha_;  // 0-d: a parameter when learnable, else a buffer; saved either way
  // C × d class weights: the paper's ordinary FC layer (l2_softmax, softmax: logits = W z + b),
  // or the normalised heads' class centres (normalised per use). Undefined without a classifier.
  torch::Tensor weight;
  torch::Tensor bias;  // C: l2_softmax and softmax with head.bias

 private:
  HeadSpec spec_;
  bool with_classifier_ = true;
};
TORCH_MODULE(Head);

}  // namespace l2face::trainer
