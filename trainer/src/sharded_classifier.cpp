// Model-parallel classifier: row shards of the class weights, their scores, the distributed
// cross-entropy, reduce-scattered feature gradients, and sampled-row optimizer steps.
#include "l2face/trainer/internal/sharded_classifier.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "l2face/trainer/internal/batch_transfer.h"
#include "l2face/trainer/internal/margin.h"
#include "l2face/trainer/internal/tensor_comm.h"

namespace l2face::trainer {
namespace {

// Rows normalised per chunk so that no second rows × d copy of the shard exists at once.
constexpr int64_t kNormChunkRows = 16384;

// The one tensor of a single-parameter state list, or undefined.
torch::Tensor only(const std::vector<torch::Tensor>& list) {
  return list.empty() ? torch::Tensor() : list[0];
}

}  // namespace

ClassifierPlacement resolveClassifierParallel(const ClassifierOptions& opt, int world,
                                              int64_t num_classes) {
  if (!(opt.sample_rate > 0 && opt.sample_rate <= 1)) {
    throw std::invalid_argument("classifier.sample_rate must be in (0, 1]");
  }
  switch (opt.parallel) {
    case ClassifierPlacement::kReplicated:
      if (opt.sample_rate < 1) {
        throw std::invalid_argument(
            "classifier.sample_rate < 1 needs classifier.parallel: sharded (or auto); the "
            "replicated classifier computes every class");
      }
      return ClassifierPlacement::kReplicated;
    case ClassifierPlacement::kSharded:
      return ClassifierPlacement::kSharded;
    case ClassifierPlacement::kAuto:
      break;
  }
  const bool large = world > 1 && num_classes >= opt.shard_min_classes;
  return (large || opt.sample_rate < 1) ? ClassifierPlacement::kSharded
                                        : ClassifierPlacement::kReplicated;
}

ClassifierMemory classifierMemory(const HeadOptions& head, const OptimOptions& optim,
                                  const ClassifierOptions& cls, int64_t num_classes, int dim,
                                  int world, int rank, int64_t global_batch) {
  constexpr int64_t f = sizeof(float);
  ClassifierMemory m;
  const ClassRange range = classRange(num_classes, world, rank);
  m.rows = range.size();
  const bool bias = resolveHeadSpec(head, num_classes).bias;
  m.sampled_rows = cls.sample_rate < 1
                       ? RowSampler(range, cls.sample_rate, 0, rank).maxRows(global_batch)
                       : m.rows;
  const int64_t row_bytes = dim * f + (bias ? f : 0);
  m.weight_bytes = m.rows * row_bytes;
  m.gradient_bytes = m.weight_bytes;
  const int states = optim.type == OptimType::kAdamW ? 2 : (optim.momentum != 0 ? 1 : 0);
  m.optimizer_bytes = states * m.weight_bytes;
  m.logits_bytes = global_batch * m.sampled_rows * f;
  // Gathered features and their gradient; sampled rows' weight copy and its gradient.
  m.activation_bytes = 2 * global_batch * dim * f;
  if (m.sampled_rows < m.rows) m.activation_bytes += 2 * m.sampled_rows * row_bytes;
  return m;
}

ShardedClassifier::ShardedClassifier(const HeadOptions& head, const OptimOptions& optim,
                                     const ClassifierOptions& cls, int64_t num_classes, int dim,
                                     uint64_t seed, comm::Communicator& comm, torch::Device device,
                                     torch::Dtype dtype)
    : ShardedClassifier(resolveHeadSpec(head, num_classes), optim, cls, num_classes, dim, seed,
                        comm, device, dtype) {}

ShardedClassifier::ShardedClassifier(const HeadSpec& head, const OptimOptions& optim,
                                     const ClassifierOptions& cls, int64_t num_classes, int dim,
                                     uint64_t seed, comm::Communicator& comm, torch::Device device,
                                     torch::Dtype dtype)
    : spec_(head),
      optim_(optim),
      num_classes_(num_classes),
      dim_(dim),
      comm_(comm),
      device_(device),
      range_(classRange(num_classes, comm.size(), comm.rank())) {
  if (!(cls.sample_rate > 0 && cls.sample_rate <= 1)) {
    throw std::invalid_argument("classifier.sample_rate must be in (0, 1]");
  }
  if (optim.type == OptimType::kAdamW && optim.betas.size() != 2) {
    throw std::invalid_argument("optim.betas needs two values");
  }
  const auto opts = torch::TensorOptions().device(device).dtype(dtype);
  ClassRows init = initialClassRows(spec_, range_.begin, range_.end, dim, seed);
  weight_ = init.weight.to(opts).contiguous();
  weight_grad_ = torch::zeros_like(weight_);
  weight_state_ = zeroFusedState(optim_, {weight_});
  if (spec_.bias) {
    bias_ = init.bias.to(opts).contiguous();
    bias_grad_ = torch::zeros_like(bias_);
    bias_state_ = zeroFusedState(optim_, {bias_});
  }
  if (cls.sample_rate < 1) {
    sampler_.emplace(range_, cls.sample_rate, seed, comm.rank());
    touched_ = torch::zeros({range_.size()}, torch::TensorOptions().dtype(torch::kBool));
  }
}

ShardedClassifier::Selection ShardedClassifier::selectRows(const torch::Tensor& y,
                                                           int64_t call_index) {
  Selection sel;
  sel.w = weight_;
  sel.bias = bias_;
  const torch::Tensor in_shard = y.ge(range_.begin).logical_and(y.lt(range_.end));
  if (!sampler_ || range_.size() == 0) {
    sel.target_row = torch::where(in_shard, y - range_.begin, -1);
    last_rows_ = torch::arange(range_.begin, range_.end, y.options());
    return sel;
  }
  const torch::Tensor rows_host = sampler_->sampleOnHost(y, call_index);
  sel.rows = hostToDevice(rows_host, device_);
  sel.w = weight_.index_select(0, sel.rows);
  if (spec_.bias) sel.bias = bias_.index_select(0, sel.rows);
  torch::Tensor position = torch::full({range_.size()}, -1, y.options());
  position.index_put_({sel.rows}, torch::arange(sel.rows.numel(), y.options()));
  sel.target_row = torch::where(
      in_shard, position.index_select(0, (y - range_.begin).clamp(0, range_.size() - 1)), -1);
  touched_.index_fill_(0, rows_host, true);  // on the host: no device read to list them
  touched_rows_ = torch::Tensor();
  last_rows_ = sel.rows + range_.begin;
  return sel;
}

// Scores, class-major (k × n): row j holds class j's score for every sample of the batch.
void ShardedClassifier::computeScores(const Selection& sel, const torch::Tensor& f) {
  const int64_t k = sel.w.size(0), n = f.size(0);
  if (!logits_.defined() || logits_.size(0) != k || logits_.size(1) != n ||
      logits_.scalar_type() != sel.w.scalar_type()) {
    logits_ = torch::empty({k, n}, sel.w.options());
  }
  if (k == 0) return;
  if (!spec_.normalised) {
    if (spec_.bias) {
      at::addmm_out(logits_, sel.bias.unsqueeze(1), sel.w, f.t());
    } else {
      at::mm_out(logits_, sel.w, f.t());
    }
    return;
  }
  for (int64_t c0 = 0; c0 < k; c0 += kNormChunkRows) {
    const int64_t len = std::min(kNormChunkRows, k - c0);
    torch::Tensor out = logits_.narrow(0, c0, len);
    at::mm_out(out, unitRows(sel.w.narrow(0, c0, len)), f.t());
  }
  logits_.mul_(spec_.alpha);  // scores s·cos θ
}

MarginFn ShardedClassifier::marginFn() const {
  if (!spec_.normalised || spec_.margin.none()) return {};
  const double s = spec_.alpha;
  const Margin m = spec_.margin;
  return [s, m](const torch::Tensor& score) { return marginTarget(score / s, m) * s; };
}

ShardedClassifier::Output ShardedClassifier::forwardBackward(const torch::Tensor& features,
                                                             const torch::Tensor& labels,
                                                             double grad_scale,
                                                             int64_t call_index) {
  torch::NoGradGuard no_grad;
  const int64_t b = features.size(0);
  if (features.dim() != 2 || features.size(1) != dim_ || labels.numel() != b) {
    throw std::invalid_argument("sharded classifier: features must be B × " + std::to_string(dim_) +
                                " with B labels");
  }
  const torch::Tensor f = allGatherTensor(comm_, features.to(weight_.scalar_type()).contiguous());
  const torch::Tensor y = allGatherTensor(comm_, labels.to(device_, torch::kLong).contiguous());
  const Selection sel = selectRows(y, call_index);
  computeScores(sel, f);
  const CrossEntropyResult ce =
      distributedCrossEntropy(logits_, sel.target_row, marginFn(), comm_, grad_scale);
  if (keep_logits_grad_) last_logits_grad_ = logits_.clone();
  chainThroughMargin(logits_, ce);
  const torch::Tensor feature_grad = backward(sel, f);
  Output out;
  out.global_loss = ce.loss.mean();
  out.loss = ce.loss.narrow(0, comm_.rank() * b, b).mean();
  out.correct = ce.correct.narrow(0, comm_.rank() * b, b).sum();
  out.feature_grad =
      reduceScatterSumTensor(comm_, feature_grad).mul_(static_cast<double>(comm_.size()));
  return out;
}

void ShardedClassifier::accumulateRowGrad(const torch::Tensor& rows, const torch::Tensor& grad,
                                          const torch::Tensor& bias_grad) {
  if (!rows.defined()) {
    weight_grad_.add_(grad);
    if (spec_.bias) bias_grad_.add_(bias_grad);
    return;
  }
  weight_grad_.index_add_(0, rows, grad);
  if (spec_.bias) bias_grad_.index_add_(0, rows, bias_grad);
}

// From ∂L/∂scores in logits_: the shard's weight (and bias) gradient, and ∂L/∂features (n × d).
torch::Tensor ShardedClassifier::backward(const Selection& sel, const torch::Tensor& f) {
  torch::Tensor feature_grad = torch::zeros({f.size(0), dim_}, weight_.options());
  if (sel.w.size(0) == 0) return feature_grad;
  if (spec_.normalised) {
    backwardNormalised(sel, f, feature_grad);
    return feature_grad;
  }
  if (sel.rows.defined()) {  // sampled: a kept-rows × d gradient, scattered into the shard's
    accumulateRowGrad(sel.rows, logits_.mm(f), spec_.bias ? logits_.sum(1) : torch::Tensor());
  } else {  // all rows: accumulated in place, no second rows × d buffer
    weight_grad_.addmm_(logits_, f);
    if (spec_.bias) bias_grad_.add_(logits_.sum(1));
  }
  return logits_.t().mm(sel.w);
}

// cos = unit(W) fᵀ: ∂f = ∂cosᵀ unit(W); ∂W through the row normalisation, per chunk.
void ShardedClassifier::backwardNormalised(const Selection& sel, const torch::Tensor& f,
                                           torch::Tensor& feature_grad) {
  logits_.mul_(spec_.alpha);  // ∂L/∂(s·cos) → ∂L/∂cos
  const int64_t k = sel.w.size(0);
  for (int64_t c0 = 0; c0 < k; c0 += kNormChunkRows) {
    const int64_t len = std::min(kNormChunkRows, k - c0);
    const torch::Tensor dcos = logits_.narrow(0, c0, len);
    torch::Tensor leaf = sel.w.narrow(0, c0, len).detach().requires_grad_(true);
    torch::AutoGradMode grad_on(true);
    torch::Tensor u = unitRows(leaf);
    feature_grad.addmm_(dcos.t(), u.detach());
    torch::Tensor dw = torch::autograd::grad({u}, {leaf}, {dcos.mm(f)})[0];
    torch::NoGradGuard off;
    if (sel.rows.defined()) {
      weight_grad_.index_add_(0, sel.rows.narrow(0, c0, len), dw);
    } else {
      weight_grad_.narrow(0, c0, len).add_(dw);
    }
  }
}

torch::Tensor ShardedClassifier::touchedRows() const {
  if (!touched_.defined()) return torch::Tensor();
  if (!touched_rows_.defined()) {
    touched_rows_ = hostToDevice(touched_.nonzero().squeeze(1), device_);  // a host tensor
  }
  return touched_rows_;
}

void ShardedClassifier::zeroGrad() {
  torch::NoGradGuard no_grad;
  if (!touched_.defined()) {
    weight_grad_.zero_();
    if (spec_.bias) bias_grad_.zero_();
    return;
  }
  const torch::Tensor rows = touchedRows();
  weight_grad_.index_fill_(0, rows, 0);
  if (spec_.bias) bias_grad_.index_fill_(0, rows, 0);
  touched_.zero_();
  touched_rows_ = torch::Tensor();
}

torch::Tensor ShardedClassifier::gradSquaredNorm() const {
  torch::NoGradGuard no_grad;
  auto sq = [](const torch::Tensor& t) { return t.to(torch::kFloat).pow(2).sum(); };
  const torch::Tensor rows = touchedRows();
  auto part = [&](const torch::Tensor& g) { return rows.defined() ? g.index_select(0, rows) : g; };
  torch::Tensor s = sq(part(weight_grad_));
  if (spec_.bias) s = s + sq(part(bias_grad_));
  return s;
}

void ShardedClassifier::scaleGrad(const torch::Tensor& factor) {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = touchedRows();
  for (torch::Tensor* g : {&weight_grad_, &bias_grad_}) {
    if (!g->defined()) continue;
    if (!rows.defined()) {
      g->mul_(factor.to(g->scalar_type()));
    } else {
      g->index_copy_(0, rows, g->index_select(0, rows) * factor.to(g->scalar_type()));
    }
  }
}

namespace {

// The fused step on rows `rows` of one parameter (all rows when undefined): the rows of the
// parameter and its state are gathered, stepped by optimizer.h's fusedStep and scattered back.
void stepRows(const OptimOptions& opt, torch::Tensor& param, const torch::Tensor& grad,
              FusedState& state, const torch::Tensor& rows, double decay, double lr,
              const torch::Tensor& found_inf) {
  if (!rows.defined()) {
    fusedStep(opt, {param}, {grad}, state, decay, lr, found_inf);
    return;
  }
  auto pick = [&](const std::vector<torch::Tensor>& l) {
    std::vector<torch::Tensor> out;
    for (const auto& t : l) out.push_back(t.index_select(0, rows));
    return out;
  };
  FusedState kept{pick(state.m1), pick(state.m2), state.steps};
  torch::Tensor p = param.index_select(0, rows);
  fusedStep(opt, {p}, {grad.index_select(0, rows)}, kept, decay, lr, found_inf);
  param.index_copy_(0, rows, p);
  for (size_t i = 0; i < state.m1.size(); ++i) state.m1[i].index_copy_(0, rows, kept.m1[i]);
  for (size_t i = 0; i < state.m2.size(); ++i) state.m2[i].index_copy_(0, rows, kept.m2[i]);
}

}  // namespace

void ShardedClassifier::step(double lr, const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = touchedRows();
  if (rows.defined() && rows.numel() == 0) return;
  const double wd = optim_.weight_decay;
  stepRows(optim_, weight_, weight_grad_, weight_state_, rows, wd, lr, found_inf);
  if (spec_.bias) {
    const double bias_wd = optim_.no_decay_bn_bias ? 0.0 : wd;
    stepRows(optim_, bias_, bias_grad_, bias_state_, rows, bias_wd, lr, found_inf);
  }
}

namespace {

// The row blocks of a shard in checkpoint column order: weight, bias, then each state's pair
// (handles sharing the shard's storage).
std::vector<std::pair<std::string, torch::Tensor>> rowBlocks(
    const torch::Tensor& w, const torch::Tensor& b, const FusedState& sw, const FusedState& sb,
    const std::string& m1_name, const std::string& m2_name) {
  std::vector<std::pair<std::string, torch::Tensor>> out = {{"weight", w}};
  if (b.defined()) out.push_back({"bias", b});
  for (const auto& [list, name] :
       {std::pair{&FusedState::m1, m1_name}, {&FusedState::m2, m2_name}}) {
    if (!(sw.*list).empty()) out.push_back({name, (sw.*list)[0]});
    if (!(sb.*list).empty()) out.push_back({name + "_bias", (sb.*list)[0]});
  }
  return out;
}

int64_t blockCols(const torch::Tensor& t) { return t.dim() == 1 ? 1 : t.size(1); }

}  // namespace

int64_t ShardedClassifier::rowCols() const {
  int64_t cols = 0;
  const std::string m1 = optim_.type == OptimType::kAdamW ? "exp_avg" : "momentum";
  for (const auto& [name, t] :
       rowBlocks(weight_, bias_, weight_state_, bias_state_, m1, "exp_avg_sq")) {
    cols += blockCols(t);
  }
  return cols;
}

std::vector<std::string> ShardedClassifier::rowLayout() const {
  std::vector<std::string> out;
  const std::string m1 = optim_.type == OptimType::kAdamW ? "exp_avg" : "momentum";
  for (const auto& [name, t] :
       rowBlocks(weight_, bias_, weight_state_, bias_state_, m1, "exp_avg_sq")) {
    out.push_back(name + ":" + std::to_string(blockCols(t)));
  }
  return out;
}

torch::Tensor ShardedClassifier::snapshotRows() const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (const auto& [name, t] : rowBlocks(weight_, bias_, weight_state_, bias_state_, "m1", "m2")) {
    parts.push_back(t.dim() == 1 ? t.unsqueeze(1) : t);
  }
  return torch::cat(parts, 1).to(torch::kCPU, torch::kFloat).contiguous();
}

void ShardedClassifier::loadRows(const torch::Tensor& rows) {
  torch::NoGradGuard no_grad;
  if (rows.dim() != 2 || rows.size(0) != range_.size() || rows.size(1) != rowCols()) {
    throw std::invalid_argument(
        "sharded classifier: checkpoint rows of shape " + c10::str(rows.sizes()) + " where [" +
        std::to_string(range_.size()) + ", " + std::to_string(rowCols()) + "] are needed");
  }
  int64_t col = 0;
  for (const auto& [name, t] : rowBlocks(weight_, bias_, weight_state_, bias_state_, "m1", "m2")) {
    const int64_t n = blockCols(t);
    torch::Tensor src = rows.narrow(1, col, n);
    torch::Tensor(t).copy_(t.dim() == 1 ? src.squeeze(1) : src);
    col += n;
  }
}

// Two counts (weight, bias) whether or not the head has a bias, as checkpoints hold them.
std::vector<double> ShardedClassifier::stepCounts() const {
  if (weight_state_.steps.empty()) return {};
  const torch::Tensor b = only(bias_state_.steps);
  return {weight_state_.steps[0].item<double>(), b.defined() ? b.item<double>() : 0.0};
}

void ShardedClassifier::setStepCounts(const std::vector<double>& counts) {
  if (weight_state_.steps.empty()) return;
  if (counts.size() != 2) throw std::invalid_argument("sharded classifier: two step counts needed");
  weight_state_.steps[0].fill_(counts[0]);
  if (!bias_state_.steps.empty()) bias_state_.steps[0].fill_(counts[1]);
}

std::vector<torch::Tensor> ShardedClassifier::optimizerState() const {
  std::vector<torch::Tensor> out;
  for (const FusedState* s : {&weight_state_, &bias_state_}) {
    for (auto list : {&FusedState::m1, &FusedState::m2, &FusedState::steps}) {
      out.insert(out.end(), (s->*list).begin(), (s->*list).end());
    }
  }
  return out;
}

}  // namespace l2face::trainer
