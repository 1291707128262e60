// The multi-tensor optimizers against torch::optim (SGD, AdamW), the device-side skip of
// non-finite steps, gradient clipping, and the weight-decay groups.
#include "l2face/trainer/internal/optimizer.h"

#include <gtest/gtest.h>

#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/head.h"

using namespace l2face::trainer;

namespace {

struct Twin {
  std::vector<torch::Tensor> mine, ref;
};

Twin makeTwin() {
  torch::manual_seed(3);
  Twin t;
  for (auto shape :
       {std::vector<int64_t>{4, 3}, std::vector<int64_t>{7}, std::vector<int64_t>{2, 2, 3, 3}}) {
    torch::Tensor a = torch::randn(shape);
    t.mine.push_back(a.clone().requires_grad_(true));
    t.ref.push_back(a.clone().requires_grad_(true));
  }
  return t;
}

torch::Tensor lossOf(const std::vector<torch::Tensor>& p, const torch::Tensor& target) {
  return (p[0] - target).pow(2).sum() + p[1].pow(3).sum() + p[2].sin().sum();
}

}  // namespace

TEST(Optimizer, SgdEqualsTorchSgdWithAndWithoutNesterov) {
  for (bool nesterov : {false, true}) {
    Twin t = makeTwin();
    OptimOptions o;
    o.nesterov = nesterov;
    o.momentum = 0.9;
    auto mine = makeOptimizer(o, {{t.mine, 5e-4}});
    torch::optim::SGD ref(
        t.ref, torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4).nesterov(nesterov));
    for (int step = 0; step < 5; ++step) {
      torch::Tensor target = torch::randn({4, 3});
      mine->zeroGrad();
      lossOf(t.mine, target).backward();
      mine->step(0.1);
      ref.zero_grad();
      lossOf(t.ref, target).backward();
      ref.step();
    }
    for (size_t i = 0; i < t.mine.size(); ++i) {
      EXPECT_TRUE(torch::allclose(t.mine[i], t.ref[i], 1e-5, 1e-6)) << "nesterov " << nesterov;
    }
  }
}

TEST(Optimizer, AdamWEqualsTorchAdamW) {
  Twin t = makeTwin();
  OptimOptions o;
  o.type = OptimType::kAdamW;
  o.betas = {0.85, 0.98};
  o.eps = 1e-7;
  // Two groups (decayed and not) against torch's two param groups.
  auto mine = makeOptimizer(o, {{{t.mine[0], t.mine[2]}, 0.05}, {{t.mine[1]}, 0.0}});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      std::vector<torch::Tensor>{t.ref[0], t.ref[2]},
      std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(0.01).betas({0.85, 0.98}).eps(1e-7).weight_decay(0.05)));
  groups.emplace_back(
      std::vector<torch::Tensor>{t.ref[1]},
      std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(0.01).betas({0.85, 0.98}).eps(1e-7).weight_decay(0.0)));
  torch::optim::AdamW ref(std::move(groups));
  for (int step = 0; step < 6; ++step) {
    torch::Tensor target = torch::randn({4, 3});
    mine->zeroGrad();
    lossOf(t.mine, target).backward();
    mine->step(0.01);
    ref.zero_grad();
    lossOf(t.ref, target).backward();
    ref.step();
  }
  for (size_t i = 0; i < t.mine.size(); ++i) {
    EXPECT_TRUE(torch::allclose(t.mine[i], t.ref[i], 1e-5, 1e-6)) << i;
  }
}

// A flagged step changes nothing (parameters, momentum, AdamW moments and step count), and the
// run then continues exactly as if the step had never happened.
TEST(Optimizer, FoundInfSkipsTheWholeUpdateOnTheDevice) {
  for (const OptimType type : {OptimType::kSgd, OptimType::kAdamW}) {
    SCOPED_TRACE(enumName(type));
    Twin t = makeTwin();
    OptimOptions o;
    o.type = type;
    auto a = makeOptimizer(o, {{t.mine, 1e-3}});
    auto b = makeOptimizer(o, {{t.ref, 1e-3}});
    const torch::Tensor skip = torch::ones({}), go = torch::zeros({});
    std::vector<torch::Tensor> targets = {torch::randn({4, 3}), torch::randn({4, 3}),
                                          torch::randn({4, 3})};
    auto stepOn = [&](Optimizer& opt, std::vector<torch::Tensor>& p, const torch::Tensor& target,
                      const torch::Tensor& flag, bool poison) {
      opt.zeroGrad();
      lossOf(p, target).backward();
      if (poison) {
        torch::NoGradGuard g;
        p[1].mutable_grad()[2] = std::nan("");
      }
      GradientCheck c = checkGradients(opt.grads(), 0.0);
      EXPECT_EQ(c.found_inf.item<float>(), poison ? 1.0f : 0.0f);
      opt.step(0.05, flag.defined() ? flag : c.found_inf);
    };
    stepOn(*a, t.mine, targets[0], {}, false);
    std::vector<torch::Tensor> before;
    for (auto& p : t.mine) before.push_back(p.detach().clone());
    std::vector<torch::Tensor> state_before;
    for (auto& s : a->state()) state_before.push_back(s.clone());
    stepOn(*a, t.mine, targets[1], {}, true);  // NaN gradient: skipped
    for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(t.mine[i], before[i]));
    for (size_t i = 0; i < state_before.size(); ++i)
      EXPECT_TRUE(torch::equal(a->state()[i], state_before[i]));
    stepOn(*a, t.mine, targets[2], go, false);
    // Reference: the same without the poisoned step.
    stepOn(*b, t.ref, targets[0], {}, false);
    stepOn(*b, t.ref, targets[2], {}, false);
    for (size_t i = 0; i < t.mine.size(); ++i) EXPECT_TRUE(torch::equal(t.mine[i], t.ref[i])) << i;
    (void)skip;
  }
}

TEST(Optimizer, ClippingScalesToTheGlobalNormAndLeavesSmallGradients) {
  std::vector<torch::Tensor> g = {torch::full({3}, 3.0), torch::full({1}, 4.0)};  // norm sqrt(43)
  GradientCheck c = checkGradients(g, 1.0);
  EXPECT_NEAR(c.norm.item<float>(), std::sqrt(43.0), 1e-5);
  const double after =
      std::sqrt(g[0].pow(2).sum().item<double>() + g[1].pow(2).sum().item<double>());
  EXPECT_NEAR(after, 1.0, 1e-5);
  EXPECT_EQ(c.found_inf.item<float>(), 0.0f);
  std::vector<torch::Tensor> small = {torch::full({2}, 0.1)};
  checkGradients(small, 5.0);
  EXPECT_TRUE(torch::allclose(small[0], torch::full({2}, 0.1)));
  // A finite gradient with a NaN loss is still a skipped step; so is an Inf gradient.
  EXPECT_EQ(checkGradients(small, 0.0, torch::tensor(std::nan(""))).found_inf.item<float>(), 1.0f);
  std::vector<torch::Tensor> inf = {torch::tensor({1.0, std::numeric_limits<double>::infinity()})};
  EXPECT_EQ(checkGradients(inf, 0.0).found_inf.item<float>(), 1.0f);
}

TEST(Optimizer, NoDecayGroupHoldsBatchNormBiasesAndLearnedAlpha) {
  ModelOptions mo;
  mo.embedding_dim = 8;
  mo.width = 4;
  auto net = makeBackbone(mo, 32);
  HeadOptions ho;
  ho.alpha_learnable = true;
  Head head(ho, 8, 5);
  OptimOptions o;
  int64_t all = 0;
  for (auto* m :
       {static_cast<torch::nn::Module*>(net.get()), static_cast<torch::nn::Module*>(head.get())}) {
    for (auto& p : m->parameters()) all += p.requires_grad();
  }
  auto plain = parameterGroups({net.get(), head.get()}, o, {head->alpha_});
  ASSERT_EQ(plain.size(), 2u);  // α alone is exempt
  EXPECT_EQ(plain[1].params.size(), 1u);
  EXPECT_TRUE(plain[1].params[0].is_same(head->alpha_));
  EXPECT_EQ(plain[0].weight_decay, o.weight_decay);
  EXPECT_EQ(plain[1].weight_decay, 0.0);

  o.no_decay_bn_bias = true;
  auto groups = parameterGroups({net.get(), head.get()}, o, {head->alpha_});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(static_cast<int64_t>(groups[0].params.size() + groups[1].params.size()), all);
  auto isIn = [](const torch::Tensor& t, const std::vector<torch::Tensor>& v) {
    for (auto& x : v)
      if (x.is_same(t)) return true;
    return false;
  };
  // By name: the tiny net's BatchNorms are body.N.bn, bn2 and features; PReLU and conv decay.
  for (const auto& kv : net->named_parameters()) {
    const std::string& k = kv.key();
    const bool exempt = k.find("bn") != std::string::npos || k.rfind("features", 0) == 0 ||
                        k.size() >= 4 && k.compare(k.size() - 4, 4, "bias") == 0;
    EXPECT_EQ(isIn(kv.value(), groups[1].params), exempt) << k;
    EXPECT_EQ(isIn(kv.value(), groups[0].params), !exempt) << k;
  }
  EXPECT_TRUE(isIn(net->named_parameters()["features.weight"], groups[1].params));
  EXPECT_TRUE(isIn(net->named_parameters()["body.0.bn.bias"], groups[1].params));
  EXPECT_TRUE(isIn(head->bias, groups[1].params));
  EXPECT_TRUE(isIn(head->weight, groups[0].params));
  EXPECT_TRUE(isIn(net->named_parameters()["body.0.prelu.weight"], groups[0].params));

  // Frozen parameters (iresnet's embedding BN scale) are not optimised at all.
  mo.backbone = "iresnet18";
  auto ir = makeBackbone(mo, 32);
  auto irg = parameterGroups({ir.get()}, o);
  EXPECT_FALSE(isIn(ir->named_parameters()["features.weight"], irg[0].params) ||
               isIn(ir->named_parameters()["features.weight"], irg[1].params));
}

// scaleLearningRate: 0 leaves the chosen parameters and their state exactly as they were (AdamW's
// step counts too) while the others train; 0.5 is a step with half the lr for them; 1 restores.
TEST(Optimizer, ScaledLearningRateFreezesOrSlowsSomeParameters) {
  for (OptimType type : {OptimType::kSgd, OptimType::kAdamW}) {
    Twin t = makeTwin();
    OptimOptions o;
    o.type = type;
    o.momentum = 0.9;
    o.betas = {0.9, 0.999};
    auto mine = makeOptimizer(o, {{t.mine, 5e-4}});
    auto ref = makeOptimizer(o, {{t.ref, 5e-4}});
    auto run = [&](Optimizer& opt, std::vector<torch::Tensor>& p, const torch::Tensor& target,
                   double lr) {
      opt.zeroGrad();
      lossOf(p, target).backward();
      opt.step(lr);
    };
    mine->scaleLearningRate({t.mine[1]}, 0.0);
    const torch::Tensor frozen = t.mine[1].detach().clone();
    std::vector<torch::Tensor> state0;
    for (const auto& s : mine->state()) state0.push_back(s.clone());
    for (int step = 0; step < 3; ++step) run(*mine, t.mine, torch::randn({4, 3}), 0.1);
    EXPECT_TRUE(torch::equal(t.mine[1], frozen));
    EXPECT_FALSE(torch::equal(t.mine[0], t.ref[0]));  // the others trained
    const auto state = mine->state();
    ASSERT_EQ(state.size() % 3, 0u);  // each kind lists the three parameters in order
    for (size_t i = 1; i < state.size(); i += 3) {
      EXPECT_TRUE(torch::equal(state[i], state0[i])) << i;  // the frozen parameter's state
    }

    // Half the lr for the same parameter: as a separate optimizer with lr/2 on it would step.
    Twin u = makeTwin();
    auto half = makeOptimizer(o, {{u.mine, 5e-4}});
    half->scaleLearningRate({u.mine[1]}, 0.5);
    auto solo = makeOptimizer(o, {{{u.ref[1]}, 5e-4}});
    auto rest = makeOptimizer(o, {{{u.ref[0], u.ref[2]}, 5e-4}});
    for (int step = 0; step < 3; ++step) {
      const torch::Tensor target = torch::randn({4, 3});
      run(*half, u.mine, target, 0.1);
      solo->zeroGrad();
      rest->zeroGrad();
      lossOf(u.ref, target).backward();
      solo->step(0.05);
      rest->step(0.1);
    }
    for (size_t i = 0; i < u.mine.size(); ++i) EXPECT_TRUE(torch::equal(u.mine[i], u.ref[i])) << i;

    half->scaleLearningRate({u.mine[1]}, 1.0);  // restored: the plain step again
    const torch::Tensor before = u.mine[1].detach().clone();
    run(*half, u.mine, torch::randn({4, 3}), 0.1);
    EXPECT_FALSE(torch::equal(u.mine[1], before));
  }
}
