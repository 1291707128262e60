// Model-parallel classifier: row shards of the class weights, distributed softmax cross-entropy
// with two fused all-reduces, reduce-scattered feature gradients, negative-class sampling.
#include "sharded_classifier.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_fused_sgd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

#include "margin.h"
#include "tensor_comm.h"

namespace l2face::trainer {
namespace {

// Rows normalised per chunk so that no second rows × d copy of the shard exists at once.
constexpr int64_t kNormChunkRows = 16384;

torch::Tensor unitRows(const torch::Tensor& t) {  // as the replicated head: eps keeps 0 finite
  return t / t.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
}

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool normalisedType(const std::string& t) {
  return t == "normface" || t == "cosface" || t == "arcface";
}

std::optional<at::Tensor> flag(const torch::Tensor& found_inf) {
  if (!found_inf.defined()) return std::nullopt;
  return found_inf;
}

}  // namespace

std::string resolveClassifierParallel(const ClassifierOptions& opt, int world,
                                      int64_t num_classes) {
  if (!(opt.sample_rate > 0 && opt.sample_rate <= 1)) {
    throw std::invalid_argument("classifier.sample_rate must be in (0, 1]");
  }
  if (opt.parallel == "replicated") {
    if (opt.sample_rate < 1) {
      throw std::invalid_argument(
          "classifier.sample_rate < 1 needs classifier.parallel: sharded (or auto); the "
          "replicated classifier computes every class");
    }
    return "replicated";
  }
  if (opt.parallel == "sharded") return "sharded";
  if (opt.parallel != "auto") {
    throw std::invalid_argument("unknown classifier.parallel '" + opt.parallel +
                                "' (available: auto, replicated, sharded)");
  }
  const bool large = world > 1 && num_classes >= opt.shard_min_classes;
  return (large || opt.sample_rate < 1) ? "sharded" : "replicated";
}

ClassifierMemory classifierMemory(const HeadOptions& head, const OptimOptions& optim,
                                  const ClassifierOptions& cls, int64_t num_classes, int dim,
                                  int world, int rank, int64_t global_batch) {
  constexpr int64_t f = sizeof(float);
  ClassifierMemory m;
  m.rows = classRange(num_classes, world, rank).size();
  const bool bias = !normalisedType(head.type) && head.bias;
  m.sampled_rows = m.rows;
  if (cls.sample_rate < 1) {
    const auto wanted = static_cast<int64_t>(std::ceil(cls.sample_rate * m.rows));
    m.sampled_rows = std::min(m.rows, std::max(wanted, std::min(global_batch, m.rows)));
  }
  const int64_t row_bytes = dim * f + (bias ? f : 0);
  m.weight_bytes = m.rows * row_bytes;
  m.gradient_bytes = m.weight_bytes;
  const int states = optim.type == "adamw" ? 2 : (optim.momentum != 0 ? 1 : 0);
  m.optimizer_bytes = states * m.weight_bytes;
  m.logits_bytes = global_batch * m.sampled_rows * f;
  // Gathered features and their gradient; sampled rows' weight copy and its gradient.
  m.activation_bytes = 2 * global_batch * dim * f;
  if (m.sampled_rows < m.rows) m.activation_bytes += 2 * m.sampled_rows * row_bytes;
  return m;
}

ShardedClassifier::ShardedClassifier(const HeadOptions& head, const OptimOptions& optim,
                                     const ClassifierOptions& cls, int64_t num_classes, int dim,
                                     uint64_t seed, comm::Communicator& comm,
                                     torch::Device device, torch::Dtype dtype)
    : head_(head),
      optim_(optim),
      sample_rate_(cls.sample_rate),
      num_classes_(num_classes),
      dim_(dim),
      seed_(seed),
      comm_(comm),
      device_(device),
      range_(classRange(num_classes, comm.size(), comm.rank())),
      normalised_(normalisedType(head.type)),
      with_bias_(!normalised_ && head.bias) {
  if (!(sample_rate_ > 0 && sample_rate_ <= 1)) {
    throw std::invalid_argument("classifier.sample_rate must be in (0, 1]");
  }
  if (normalised_) {
    scale_ = head.scale;
    angle_margin_ = head.type == "arcface" ? head.margin : 0;
    cosine_margin_ = head.type == "cosface" ? head.margin : 0;
  }
  if (optim.type != "sgd" && optim.type != "adamw") {
    throw std::invalid_argument("unknown optim.type '" + optim.type + "'");
  }
  const auto opts = torch::TensorOptions().device(device).dtype(dtype);
  ClassRows init = initialClassRows(head, range_.begin, range_.end, dim, seed);
  weight_ = init.weight.to(opts).contiguous();
  weight_grad_ = torch::zeros_like(weight_);
  if (with_bias_) {
    bias_ = init.bias.to(opts).contiguous();
    bias_grad_ = torch::zeros_like(bias_);
  }
  auto zerosIfBias = [&] { return with_bias_ ? torch::zeros_like(bias_) : torch::Tensor(); };
  if (optim.type == "adamw" || optim.momentum != 0) {
    weight_m1_ = torch::zeros_like(weight_);
    bias_m1_ = zerosIfBias();
  }
  if (optim.type == "adamw") {
    weight_m2_ = torch::zeros_like(weight_);
    bias_m2_ = zerosIfBias();
    step_count_ = torch::zeros({2}, torch::TensorOptions().device(device).dtype(torch::kFloat));
  }
  if (sample_rate_ < 1) {
    touched_ = torch::zeros({range_.size()}, torch::TensorOptions().device(device).dtype(torch::kBool));
  }
}

torch::Tensor ShardedClassifier::sampleRows(const torch::Tensor& global_labels,
                                            int64_t call_index) {
  const int64_t n = range_.size();
  torch::Tensor y = global_labels.to(torch::kCPU);
  torch::Tensor mine = y.masked_select(y.ge(range_.begin).logical_and(y.lt(range_.end))) -
                       range_.begin;
  const auto wanted = std::min<int64_t>(n, static_cast<int64_t>(std::ceil(sample_rate_ * n)));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
      mix64(mix64(seed_ ^ 0x5a5a5a5aULL) ^ mix64(static_cast<uint64_t>(call_index)) ^
            static_cast<uint64_t>(comm_.rank())));
  torch::Tensor score = torch::rand({n}, gen, torch::kFloat);
  if (mine.numel() > 0) score.index_fill_(0, mine, 2.0f);  // positives first: rand < 1 < 2
  const int64_t positives = mine.numel() > 0 ? std::get<0>(at::_unique(mine)).numel() : 0;
  const int64_t k = std::max(wanted, positives);
  torch::Tensor rows = std::get<0>(std::get<1>(score.topk(k)).sort());
  return rows.to(device_);
}

void ShardedClassifier::accumulateRowGrad(const torch::Tensor& rows, const torch::Tensor& grad,
                                          const torch::Tensor& bias_grad) {
  if (!rows.defined()) {
    weight_grad_.add_(grad);
    if (with_bias_) bias_grad_.add_(bias_grad);
    return;
  }
  weight_grad_.index_add_(0, rows, grad);
  if (with_bias_) bias_grad_.index_add_(0, rows, bias_grad);
}

ShardedClassifier::Output ShardedClassifier::forwardBackward(const torch::Tensor& features,
                                                             const torch::Tensor& labels,
                                                             double grad_scale,
                                                             int64_t call_index) {
  torch::NoGradGuard no_grad;
  const int world = comm_.size();
  const int64_t b = features.size(0);
  if (features.dim() != 2 || features.size(1) != dim_ || labels.numel() != b) {
    throw std::invalid_argument("sharded classifier: features must be B × " +
                                std::to_string(dim_) + " with B labels");
  }
  const torch::Tensor f = allGatherTensor(comm_, features.to(weight_.scalar_type()).contiguous());
  const torch::Tensor y = allGatherTensor(comm_, labels.to(device_, torch::kLong).contiguous());
  const int64_t n = f.size(0);  // global batch
  const auto vec = weight_.options();

  // The rows this forward computes: all owned rows, or the sampled subset (local indices).
  torch::Tensor rows, w = weight_, bias = bias_;
  const torch::Tensor in_shard = y.ge(range_.begin).logical_and(y.lt(range_.end));
  torch::Tensor local_target;  // per sample: its row in the logits, or −1
  if (sample_rate_ < 1 && range_.size() > 0) {
    rows = sampleRows(y, call_index);
    w = weight_.index_select(0, rows);
    if (with_bias_) bias = bias_.index_select(0, rows);
    torch::Tensor position = torch::full({range_.size()}, -1, y.options());
    position.index_put_({rows}, torch::arange(rows.numel(), y.options()));
    local_target = torch::where(
        in_shard, position.index_select(0, (y - range_.begin).clamp(0, range_.size() - 1)), -1);
    touched_.index_fill_(0, rows, true);
    last_rows_ = rows + range_.begin;
  } else {
    local_target = torch::where(in_shard, y - range_.begin, -1);
    last_rows_ = torch::arange(range_.begin, range_.end, y.options());
  }
  const int64_t k = w.size(0);

  // Logits, class-major (k × n): row j holds class j's logit for every sample of the batch.
  if (!logits_.defined() || logits_.size(0) != k || logits_.size(1) != n ||
      logits_.scalar_type() != w.scalar_type()) {
    logits_ = torch::empty({k, n}, vec);
  }
  if (k > 0) {
    if (!normalised_) {
      if (with_bias_) {
        at::addmm_out(logits_, bias.unsqueeze(1), w, f.t());
      } else {
        at::mm_out(logits_, w, f.t());
      }
    } else {
      for (int64_t c0 = 0; c0 < k; c0 += kNormChunkRows) {
        const int64_t len = std::min(kNormChunkRows, k - c0);
        torch::Tensor out = logits_.narrow(0, c0, len);
        at::mm_out(out, unitRows(w.narrow(0, c0, len)), f.t());
      }
      logits_.mul_(scale_);  // scores s·cos θ
    }
  }
  // Targets this rank owns: sample columns, and their flat positions in the logits.
  const torch::Tensor target_cols = local_target.ge(0).nonzero().squeeze(1);
  const torch::Tensor flat = local_target.index_select(0, target_cols) * n + target_cols;
  torch::Tensor flat_logits = logits_.view({-1});
  const torch::Tensor target_score = flat_logits.index_select(0, flat);
  torch::Tensor target_logit = target_score, margin_slope;
  const bool margin = normalised_ && (angle_margin_ != 0 || cosine_margin_ != 0);
  const double lowest = -std::numeric_limits<double>::infinity();
  torch::Tensor maxima = torch::empty({2, n}, vec);  // [max logit; max score]
  if (k > 0) {
    maxima[1] = std::get<0>(logits_.max(0));
    if (margin) {
      torch::AutoGradMode grad_on(true);
      torch::Tensor c = (target_score / scale_).detach().requires_grad_(true);
      torch::Tensor t = marginTarget(c, angle_margin_, cosine_margin_) * scale_;
      if (c.numel() > 0) {
        margin_slope = torch::autograd::grad({t}, {c}, {torch::ones_like(t)})[0].detach();
      } else {
        margin_slope = torch::empty_like(c);
      }
      target_logit = t.detach();
      flat_logits.index_copy_(0, flat, target_logit);
      maxima[0] = std::get<0>(logits_.max(0));
    } else {
      maxima[0] = maxima[1];
    }
  } else {
    maxima.fill_(lowest);
  }
  allReduceTensor(comm_, maxima, comm::ReduceOp::kMax);
  const torch::Tensor max_logit = maxima[0], max_score = maxima[1];

  // exp in place, then one fused SUM of [Σ exp; target logit; target score].
  torch::Tensor sums = torch::zeros({3, n}, vec);
  if (k > 0) {
    logits_.sub_(max_logit.unsqueeze(0)).exp_();
    sums[0] = logits_.sum(0);
    sums[1].index_copy_(0, target_cols, target_logit);
    sums[2].index_copy_(0, target_cols, target_score);
  }
  allReduceTensor(comm_, sums, comm::ReduceOp::kSum);
  const torch::Tensor sum_exp = sums[0];
  const torch::Tensor loss = sum_exp.log() + max_logit - sums[1];
  Output out;
  out.global_loss = loss.mean();
  out.loss = loss.narrow(0, comm_.rank() * b, b).mean();
  // The target's score is the global maximum: a distributed arg-max over the class shards.
  out.correct = sums[2].ge(max_score).narrow(0, comm_.rank() * b, b).sum();

  // ∂L/∂logits = (softmax − onehot)/n, in place; then ∂L/∂cos (margin slope at the targets).
  torch::Tensor feature_grad = torch::zeros({n, dim_}, vec);
  if (k > 0) {
    logits_.div_(sum_exp.unsqueeze(0));
    flat_logits.index_add_(0, flat, torch::full({flat.numel()}, -1.0, vec));
    logits_.mul_(grad_scale / static_cast<double>(n));
    if (keep_logits_grad_) last_logits_grad_ = logits_.clone();
    if (!normalised_) {
      if (rows.defined()) {  // sampled: a kept-rows × d gradient, scattered into the shard's
        accumulateRowGrad(rows, logits_.mm(f), with_bias_ ? logits_.sum(1) : torch::Tensor());
      } else {  // all rows: accumulated in place, no second rows × d buffer
        weight_grad_.addmm_(logits_, f);
        if (with_bias_) bias_grad_.add_(logits_.sum(1));
      }
      feature_grad = logits_.t().mm(w);
    } else {
      if (margin) {
        const torch::Tensor g_target = flat_logits.index_select(0, flat) * margin_slope;
        logits_.mul_(scale_);
        flat_logits.index_copy_(0, flat, g_target);
      } else {
        logits_.mul_(scale_);
      }
      // cos = unit(W) fᵀ: ∂f = ∂cosᵀ unit(W); ∂W through the row normalisation, per chunk.
      for (int64_t c0 = 0; c0 < k; c0 += kNormChunkRows) {
        const int64_t len = std::min(kNormChunkRows, k - c0);
        const torch::Tensor dcos = logits_.narrow(0, c0, len);
        torch::Tensor leaf = w.narrow(0, c0, len).detach().requires_grad_(true);
        torch::AutoGradMode grad_on(true);
        torch::Tensor u = unitRows(leaf);
        feature_grad.addmm_(dcos.t(), u.detach());
        torch::Tensor dw = torch::autograd::grad({u}, {leaf}, {dcos.mm(f)})[0];
        torch::NoGradGuard off;
        if (rows.defined()) {
          weight_grad_.index_add_(0, rows.narrow(0, c0, len), dw);
        } else {
          weight_grad_.narrow(0, c0, len).add_(dw);
        }
      }
    }
  }
  out.feature_grad = reduceScatterSumTensor(comm_, feature_grad).mul_(static_cast<double>(world));
  return out;
}

void ShardedClassifier::zeroGrad() {
  torch::NoGradGuard no_grad;
  if (!touched_.defined()) {
    weight_grad_.zero_();
    if (with_bias_) bias_grad_.zero_();
    return;
  }
  const torch::Tensor rows = touched_.nonzero().squeeze(1);
  weight_grad_.index_fill_(0, rows, 0);
  if (with_bias_) bias_grad_.index_fill_(0, rows, 0);
  touched_.zero_();
}

torch::Tensor ShardedClassifier::gradSquaredNorm() const {
  torch::NoGradGuard no_grad;
  auto sq = [](const torch::Tensor& t) { return t.to(torch::kFloat).pow(2).sum(); };
  torch::Tensor rows = touched_.defined() ? touched_.nonzero().squeeze(1) : torch::Tensor();
  auto part = [&](const torch::Tensor& g) { return rows.defined() ? g.index_select(0, rows) : g; };
  torch::Tensor s = sq(part(weight_grad_));
  if (with_bias_) s = s + sq(part(bias_grad_));
  return s;
}

void ShardedClassifier::scaleGrad(const torch::Tensor& factor) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor* g : {&weight_grad_, &bias_grad_}) {
    if (!g->defined()) continue;
    if (!touched_.defined()) {
      g->mul_(factor.to(g->scalar_type()));
    } else {
      const torch::Tensor rows = touched_.nonzero().squeeze(1);
      g->index_copy_(0, rows, g->index_select(0, rows) * factor.to(g->scalar_type()));
    }
  }
}

void ShardedClassifier::step(double lr, const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = touched_.defined() ? touched_.nonzero().squeeze(1) : torch::Tensor();
  if (rows.defined() && rows.numel() == 0) return;
  auto view = [&](const torch::Tensor& t) {
    return !t.defined() ? t : (rows.defined() ? t.index_select(0, rows) : t);
  };
  auto back = [&](torch::Tensor& dst, const torch::Tensor& src) {
    if (dst.defined() && rows.defined()) dst.index_copy_(0, rows, src);
  };
  const double wd = optim_.weight_decay;
  const double bias_wd = optim_.no_decay_bn_bias ? 0.0 : wd;
  struct Slot {
    torch::Tensor* param;
    torch::Tensor* grad;
    torch::Tensor* m1;
    torch::Tensor* m2;
    double decay;
    int index;
  };
  std::vector<Slot> slots = {{&weight_, &weight_grad_, &weight_m1_, &weight_m2_, wd, 0}};
  if (with_bias_) slots.push_back({&bias_, &bias_grad_, &bias_m1_, &bias_m2_, bias_wd, 1});
  for (const Slot& s : slots) {
    torch::Tensor p = view(*s.param), g = view(*s.grad), m1 = view(*s.m1), m2 = view(*s.m2);
    if (optim_.type == "sgd") {
      std::vector<torch::Tensor> mom = m1.defined() ? std::vector<torch::Tensor>{m1}
                                                    : std::vector<torch::Tensor>{};
      at::_fused_sgd_({p}, {g}, mom, s.decay, optim_.momentum, lr, /*dampening=*/0.0,
                      optim_.nesterov, /*maximize=*/false, /*is_first_step=*/false, std::nullopt,
                      flag(found_inf));
    } else {
      torch::Tensor count = step_count_.select(0, s.index);
      count.add_(1.0);
      at::_fused_adamw_({p}, {g}, {m1}, {m2}, {}, {count}, lr, optim_.betas[0], optim_.betas[1],
                        s.decay, optim_.eps, /*amsgrad=*/false, /*maximize=*/false, std::nullopt,
                        flag(found_inf));
      if (found_inf.defined()) count.sub_(found_inf);
    }
    back(*s.param, p);
    back(*s.m1, m1);
    back(*s.m2, m2);
  }
}

namespace {

// The row blocks of a shard in checkpoint column order: weight, bias, then each state's pair.
std::vector<std::pair<std::string, const torch::Tensor*>> rowBlocks(
    const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& m1w,
    const torch::Tensor& m1b, const torch::Tensor& m2w, const torch::Tensor& m2b,
    const std::string& m1_name, const std::string& m2_name) {
  std::vector<std::pair<std::string, const torch::Tensor*>> out = {{"weight", &w}};
  if (b.defined()) out.push_back({"bias", &b});
  if (m1w.defined()) out.push_back({m1_name, &m1w});
  if (m1b.defined()) out.push_back({m1_name + "_bias", &m1b});
  if (m2w.defined()) out.push_back({m2_name, &m2w});
  if (m2b.defined()) out.push_back({m2_name + "_bias", &m2b});
  return out;
}

int64_t blockCols(const torch::Tensor& t) { return t.dim() == 1 ? 1 : t.size(1); }

}  // namespace

int64_t ShardedClassifier::rowCols() const {
  int64_t cols = 0;
  const std::string m1 = optim_.type == "adamw" ? "exp_avg" : "momentum";
  for (const auto& [name, t] : rowBlocks(weight_, bias_, weight_m1_, bias_m1_, weight_m2_,
                                         bias_m2_, m1, "exp_avg_sq")) {
    cols += blockCols(*t);
  }
  return cols;
}

std::vector<std::string> ShardedClassifier::rowLayout() const {
  std::vector<std::string> out;
  const std::string m1 = optim_.type == "adamw" ? "exp_avg" : "momentum";
  for (const auto& [name, t] : rowBlocks(weight_, bias_, weight_m1_, bias_m1_, weight_m2_,
                                         bias_m2_, m1, "exp_avg_sq")) {
    out.push_back(name + ":" + std::to_string(blockCols(*t)));
  }
  return out;
}

torch::Tensor ShardedClassifier::snapshotRows() const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (const auto& [name, t] : rowBlocks(weight_, bias_, weight_m1_, bias_m1_, weight_m2_,
                                         bias_m2_, "m1", "m2")) {
    parts.push_back(t->dim() == 1 ? t->unsqueeze(1) : *t);
  }
  return torch::cat(parts, 1).to(torch::kCPU, torch::kFloat).contiguous();
}

void ShardedClassifier::loadRows(const torch::Tensor& rows) {
  torch::NoGradGuard no_grad;
  if (rows.dim() != 2 || rows.size(0) != range_.size() || rows.size(1) != rowCols()) {
    throw std::invalid_argument("sharded classifier: checkpoint rows of shape " +
                                c10::str(rows.sizes()) + " where [" +
                                std::to_string(range_.size()) + ", " +
                                std::to_string(rowCols()) + "] are needed");
  }
  int64_t col = 0;
  for (const auto& [name, t] : rowBlocks(weight_, bias_, weight_m1_, bias_m1_, weight_m2_,
                                         bias_m2_, "m1", "m2")) {
    const int64_t n = blockCols(*t);
    torch::Tensor src = rows.narrow(1, col, n);
    const_cast<torch::Tensor*>(t)->copy_(t->dim() == 1 ? src.squeeze(1) : src);
    col += n;
  }
}

std::vector<double> ShardedClassifier::stepCounts() const {
  if (!step_count_.defined()) return {};
  torch::Tensor c = step_count_.to(torch::kCPU, torch::kDouble);
  return {c[0].item<double>(), c[1].item<double>()};
}

void ShardedClassifier::setStepCounts(const std::vector<double>& counts) {
  if (!step_count_.defined()) return;
  if (counts.size() != 2) throw std::invalid_argument("sharded classifier: two step counts needed");
  step_count_.copy_(torch::tensor(counts, torch::kDouble));
}

std::vector<torch::Tensor> ShardedClassifier::optimizerState() const {
  std::vector<torch::Tensor> out;
  for (const auto* t : {&weight_m1_, &bias_m1_, &weight_m2_, &bias_m2_, &step_count_}) {
    if (t->defined()) out.push_back(*t);
  }
  return out;
}

}  // namespace l2face::trainer
