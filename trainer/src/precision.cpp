// bf16 autocast scope, channels_last conversion and the finite-weights check.
#include "l2face/trainer/internal/precision.h"

#include <ATen/autocast_mode.h>

#include <stdexcept>

namespace l2face::trainer {

std::string resolvePrecision(const std::string& precision, const torch::Device& device) {
  if (precision == "auto") return device.is_cuda() ? "bf16" : "fp32";
  if (precision == "fp32") return precision;
  if (precision == "bf16") {
    if (!device.is_cuda()) {
      throw std::invalid_argument("run.precision bf16 needs a CUDA device; the CPU trains in fp32");
    }
    return precision;
  }
  throw std::invalid_argument("unknown run.precision '" + precision + "' (auto, fp32, bf16)");
}

AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled)
    : enabled_(enabled), type_(device.type()) {
  if (!enabled_) return;
  // The same steps as torch.autocast.__enter__/__exit__: save, enable, set dtype, nest.
  previous_enabled_ = at::autocast::is_autocast_enabled(type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, previous_enabled_);
  at::autocast::set_autocast_dtype(type_, previous_dtype_);
}

void toChannelsLast(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& t : m.parameters()) {
    if (t.dim() == 4) t.set_data(t.contiguous(at::MemoryFormat::ChannelsLast));
  }
  for (auto& t : m.buffers()) {
    if (t.dim() == 4) t.set_data(t.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

bool allFinite(const torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flags;
  for (const auto& t : m.parameters()) flags.push_back(t.isfinite().all());
  for (const auto& t : m.buffers()) {
    if (t.is_floating_point()) flags.push_back(t.isfinite().all());
  }
  return flags.empty() || torch::stack(flags).all().item<bool>();
}

}  // namespace l2face::trainer
