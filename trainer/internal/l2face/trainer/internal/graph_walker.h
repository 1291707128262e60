// GraphWalker: a backbone's modules translated into a deploy::NetGraph (the ONNX export).
#pragma once

#include <torch/torch.h>

#include <string>
#include <unordered_set>

#include "l2face/deploy/net_graph.h"

namespace l2face::trainer {

class GraphWalker;

// A module with its own dataflow (residual blocks, backbones): it emits what its forward computes,
// in eval mode, through the walker. Modules without it must be one of the walker's leaf types.
struct GraphDescribable {
  virtual ~GraphDescribable() = default;
  // `path` is the module's dotted name in the network ("" for the root), `x` its input value.
  virtual std::string describe(GraphWalker& w, const std::string& path,
                               const std::string& x) const = 0;
};

// Walks modules in eval mode (BatchNorm from running statistics, dropout as identity) and copies
// their weights to float32 CPU. Leaf types: Conv2d (zero padding, dilation 1), BatchNorm1d/2d
// (with running statistics), PReLU, Linear, Dropout, Flatten, Sequential (children in order).
// Not thread-safe.
class GraphWalker {
 public:
  explicit GraphWalker(deploy::NetGraph& graph) : graph_(graph) {}

  // x through child `name` of the module at `parent`. Throws std::invalid_argument naming the
  // module and its type when it is neither a leaf type nor GraphDescribable.
  std::string apply(const std::string& parent, const std::string& name, const torch::nn::Module& m,
                    const std::string& x);
  // The module at `path` itself (the root: path "").
  std::string applyAt(const std::string& path, const torch::nn::Module& m, const std::string& x);

  deploy::NetGraph& graph() { return graph_; }
  static std::string join(const std::string& parent, const std::string& name);

  // Throws std::logic_error listing the parameters and statistics of `root` no module emitted
  // (a describe() that skips a module would silently export a different network).
  void checkAllExported(const torch::nn::Module& root) const;

 private:
  deploy::Weight take(const torch::Tensor& t);
  std::string conv(const std::string& path, const torch::nn::Conv2dImpl& c, const std::string& x);
  std::string batchNorm(const std::string& path, const torch::Tensor& w, const torch::Tensor& b,
                        const torch::Tensor& mean, const torch::Tensor& var, double eps,
                        const std::string& x);
  std::string linear(const std::string& path, const torch::nn::LinearImpl& l, const std::string& x);
  std::string sequential(const std::string& path, const torch::nn::SequentialImpl& s,
                         const std::string& x);

  deploy::NetGraph& graph_;
  std::unordered_set<const void*> exported_;  // TensorImpls whose values are in the graph
};

}  // namespace l2face::trainer
