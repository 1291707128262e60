// GraphWalker: torch modules -> NetGraph operators, leaf types by type, the rest by describe().
#include "l2face/trainer/internal/graph_walker.h"

#include <array>
#include <stdexcept>
#include <variant>

namespace l2face::trainer {
namespace {

[[noreturn]] void unsupported(const std::string& path, const torch::nn::Module& m,
                              const std::string& why) {
  throw std::invalid_argument("cannot export module '" + (path.empty() ? "<root>" : path) + "' (" +
                              m.name() + ") to ONNX: " + why);
}

}  // namespace

std::string GraphWalker::join(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

deploy::Weight GraphWalker::take(const torch::Tensor& t) {
  exported_.insert(t.unsafeGetTensorImpl());
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  deploy::Weight w;
  w.dims.assign(c.sizes().begin(), c.sizes().end());
  w.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return w;
}

std::string GraphWalker::apply(const std::string& parent, const std::string& name,
                               const torch::nn::Module& m, const std::string& x) {
  return applyAt(join(parent, name), m, x);
}

std::string GraphWalker::applyAt(const std::string& path, const torch::nn::Module& m,
                                 const std::string& x) {
  if (const auto* d = dynamic_cast<const GraphDescribable*>(&m)) return d->describe(*this, path, x);
  if (const auto* c = m.as<torch::nn::Conv2dImpl>()) return conv(path, *c, x);
  if (const auto* b = m.as<torch::nn::BatchNorm2dImpl>()) {
    return batchNorm(path, b->weight, b->bias, b->running_mean, b->running_var, b->options.eps(),
                     x);
  }
  if (const auto* b = m.as<torch::nn::BatchNorm1dImpl>()) {
    return batchNorm(path, b->weight, b->bias, b->running_mean, b->running_var, b->options.eps(),
                     x);
  }
  if (const auto* p = m.as<torch::nn::PReLUImpl>()) return graph_.prelu(path, x, take(p->weight));
  if (const auto* l = m.as<torch::nn::LinearImpl>()) return linear(path, *l, x);
  if (m.as<torch::nn::DropoutImpl>() != nullptr) return x;  // identity in eval mode
  if (const auto* f = m.as<torch::nn::FlattenImpl>()) {
    if (f->options.start_dim() != 1 || f->options.end_dim() != -1) {
      unsupported(path, m, "only flatten(1, -1) is translated");
    }
    return graph_.flatten(path, x);
  }
  if (const auto* s = m.as<torch::nn::SequentialImpl>()) return sequential(path, *s, x);
  unsupported(path, m, "no ONNX translation for this module type");
}

std::string GraphWalker::conv(const std::string& path, const torch::nn::Conv2dImpl& c,
                              const std::string& x) {
  const auto& o = c.options;
  const auto* padding = std::get_if<torch::ExpandingArray<2>>(&o.padding());
  const std::array<int64_t, 2> stride = *o.stride(), dilation = *o.dilation();
  if (padding == nullptr || (**padding)[0] != (**padding)[1] || stride[0] != stride[1] ||
      dilation[0] != 1 || dilation[1] != 1 ||
      !std::holds_alternative<torch::enumtype::kZeros>(o.padding_mode())) {
    unsupported(path, c, "only square strides and zero paddings, dilation 1, are translated");
  }
  deploy::Weight bias;
  if (o.bias()) bias = take(c.bias);
  return graph_.conv(path, x, take(c.weight), o.bias() ? &bias : nullptr,
                     static_cast<int>(stride[0]), static_cast<int>((**padding)[0]),
                     static_cast<int>(o.groups()));
}

std::string GraphWalker::batchNorm(const std::string& path, const torch::Tensor& w,
                                   const torch::Tensor& b, const torch::Tensor& mean,
                                   const torch::Tensor& var, double eps, const std::string& x) {
  if (!w.defined() || !mean.defined()) {
    throw std::invalid_argument("cannot export module '" + path +
                                "' to ONNX: BatchNorm without affine weights or running "
                                "statistics is not translated");
  }
  return graph_.batchNorm(path, x, take(w), take(b), take(mean), take(var),
                          static_cast<float>(eps));
}

std::string GraphWalker::linear(const std::string& path, const torch::nn::LinearImpl& l,
                                const std::string& x) {
  deploy::Weight bias;
  if (l.options.bias()) bias = take(l.bias);
  return graph_.linear(path, x, take(l.weight), l.options.bias() ? &bias : nullptr);
}

std::string GraphWalker::sequential(const std::string& path, const torch::nn::SequentialImpl& s,
                                    const std::string& x) {
  std::string v = x;
  for (const auto& child : s.named_children()) v = apply(path, child.key(), *child.value(), v);
  return v;
}

void GraphWalker::checkAllExported(const torch::nn::Module& root) const {
  std::string missing;
  for (const auto& p : root.named_parameters()) {
    if (!exported_.count(p.value().unsafeGetTensorImpl())) missing += " " + p.key();
  }
  for (const auto& b : root.named_buffers()) {
    const bool counter = b.value().scalar_type() == torch::kLong;  // num_batches_tracked
    if (!counter && !exported_.count(b.value().unsafeGetTensorImpl())) missing += " " + b.key();
  }
  if (!missing.empty()) {
    throw std::logic_error("the ONNX graph leaves out tensors of the network:" + missing);
  }
}

}  // namespace l2face::trainer
