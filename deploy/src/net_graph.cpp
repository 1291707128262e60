// NetGraph's builders: each appends one ONNX operator (and its weights) to the graph.
#include "l2face/deploy/net_graph.h"

#include <stdexcept>
#include <utility>

namespace l2face::deploy {
namespace {

Attribute intAttr(const std::string& name, int64_t v) {
  return {name, Attribute::Kind::kInt, v, {}, 0};
}

Attribute intsAttr(const std::string& name, std::vector<int64_t> v) {
  return {name, Attribute::Kind::kInts, 0, std::move(v), 0};
}

Attribute floatAttr(const std::string& name, float v) {
  return {name, Attribute::Kind::kFloat, 0, {}, v};
}

Weight scalar(float v) { return Weight{{}, {v}}; }

}  // namespace

NetGraph::NetGraph(int channels, int height, int width)
    : input_dims_{-1, channels, height, width} {}

std::string NetGraph::weight(const std::string& name, Weight w) {
  int64_t n = 1;
  for (int64_t d : w.dims) n *= d;
  if (n != static_cast<int64_t>(w.values.size())) {
    throw std::invalid_argument("weight " + name + " has " + std::to_string(w.values.size()) +
                                " values for its shape of " + std::to_string(n));
  }
  for (const Initializer& i : initializers_) {
    if (i.name == name) throw std::invalid_argument("two weights named " + name);
  }
  initializers_.push_back({name, std::move(w)});
  return name;
}

std::string NetGraph::node(const std::string& op, const std::string& module,
                           std::vector<std::string> inputs, std::vector<Attribute> attributes) {
  Node n;
  n.op = op;
  n.name = op + "_" + std::to_string(nodes_.size());
  n.module = module;
  n.inputs = std::move(inputs);
  n.outputs = {n.name};
  n.attributes = std::move(attributes);
  nodes_.push_back(std::move(n));
  return nodes_.back().name;
}

std::string NetGraph::sub(const std::string& module, const std::string& x, float value) {
  return node("Sub", module, {x, weight(module + ".mean", scalar(value))});
}

std::string NetGraph::mul(const std::string& module, const std::string& x, float value) {
  return node("Mul", module, {x, weight(module + ".scale", scalar(value))});
}

std::string NetGraph::conv(const std::string& module, const std::string& x, Weight w,
                           const Weight* bias, int stride, int padding, int groups) {
  if (w.dims.size() != 4) throw std::invalid_argument(module + ": a conv weight has 4 dims");
  std::vector<std::string> inputs{x, weight(module + ".weight", w)};
  if (bias != nullptr) inputs.push_back(weight(module + ".bias", *bias));
  const int64_t p = padding, s = stride;
  return node(
      "Conv", module, std::move(inputs),
      {intsAttr("kernel_shape", {w.dims[2], w.dims[3]}), intsAttr("strides", {s, s}),
       intsAttr("pads", {p, p, p, p}), intsAttr("dilations", {1, 1}), intAttr("group", groups)});
}

std::string NetGraph::batchNorm(const std::string& module, const std::string& x, Weight scale,
                                Weight bias, Weight mean, Weight var, float eps) {
  std::vector<std::string> inputs{x, weight(module + ".weight", std::move(scale)),
                                  weight(module + ".bias", std::move(bias)),
                                  weight(module + ".running_mean", std::move(mean)),
                                  weight(module + ".running_var", std::move(var))};
  return node("BatchNormalization", module, std::move(inputs), {floatAttr("epsilon", eps)});
}

std::string NetGraph::prelu(const std::string& module, const std::string& x, Weight slope) {
  const int64_t c = static_cast<int64_t>(slope.values.size());
  slope.dims = {c, 1, 1};
  return node("PRelu", module, {x, weight(module + ".weight", std::move(slope))});
}

std::string NetGraph::add(const std::string& module, const std::string& a, const std::string& b) {
  return node("Add", module, {a, b});
}

std::string NetGraph::maxPool(const std::string& module, const std::string& x, int kernel,
                              int stride) {
  const int64_t k = kernel, s = stride;
  return node("MaxPool", module, {x},
              {intsAttr("kernel_shape", {k, k}), intsAttr("strides", {s, s})});
}

std::string NetGraph::flatten(const std::string& module, const std::string& x) {
  return node("Flatten", module, {x}, {intAttr("axis", 1)});
}

std::string NetGraph::linear(const std::string& module, const std::string& x, Weight w,
                             const Weight* bias) {
  if (w.dims.size() != 2) throw std::invalid_argument(module + ": a linear weight has 2 dims");
  std::vector<std::string> inputs{x, weight(module + ".weight", std::move(w))};
  if (bias != nullptr) inputs.push_back(weight(module + ".bias", *bias));
  return node("Gemm", module, std::move(inputs), {intAttr("transB", 1)});
}

void NetGraph::setOutput(const std::string& x, int64_t dim) {
  if (nodes_.empty() || nodes_.back().outputs.at(0) != x) {
    throw std::invalid_argument("the output " + x + " is not the last node's");
  }
  nodes_.back().outputs[0] = outputName();
  output_dim_ = dim;
}

}  // namespace l2face::deploy
