// Tests of the trainer's pieces: L2 head against a hand-derived float64 reference, α bound,
// multi-tensor SGD against torch::optim::SGD, LR schedules, backbone shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "backbone.h"
#include "head.h"
#include "l2face/trainer/alpha.h"
#include "optimizer.h"

using namespace l2face::trainer;

TEST(Alpha, LowerBoundMatchesPaper) {
  EXPECT_NEAR(alphaLowerBound(10000, 0.9), 11.41, 0.005);
  EXPECT_NEAR(alphaLowerBound(13403, 0.9), 11.70, 0.005);
  EXPECT_NEAR(alphaLowerBound(58207, 0.9), 13.17, 0.005);
  EXPECT_NEAR(alphaLowerBound(93431, 0.9), 13.64, 0.005);
  EXPECT_NEAR(alphaLowerBound(2060000, 0.9), 16.74, 0.01);
  EXPECT_THROW(alphaLowerBound(2, 0.9), std::invalid_argument);
  EXPECT_THROW(alphaLowerBound(10, 1.0), std::invalid_argument);
  HeadOptions h;
  h.alpha_auto = true;
  EXPECT_NEAR(resolveAlpha(h, 10000), alphaLowerBound(10000, 0.9), 1e-12);
  h.type = "softmax";
  EXPECT_EQ(resolveAlpha(h, 10000), 0.0);
}

// Loss and gradients of the L2-constrained softmax for a 2-d feature, derived by hand:
// z = α f/‖f‖, logits = W z + b, L = −log softmax(logits)_y,
// ∂L/∂z = Wᵀ(softmax − onehot), ∂L/∂f = (α/‖f‖)(I − f̂f̂ᵀ) ∂L/∂z, ∂L/∂W = (softmax − onehot) zᵀ.
TEST(Head, L2SoftmaxForwardBackwardMatchesHandDerivation) {
  HeadOptions opt;
  opt.alpha = 2.0;
  Head head(opt, 2, 3);
  head->to(torch::kDouble);
  torch::NoGradGuard g0;
  head->fc->weight.copy_(torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {-1.0, 0.5}}, torch::kDouble));
  head->fc->bias.copy_(torch::tensor({0.1, -0.2, 0.3}, torch::kDouble));
  {
    torch::AutoGradMode on(true);
    torch::Tensor f = torch::tensor({{3.0, 4.0}}, torch::dtype(torch::kDouble).requires_grad(true));
    torch::Tensor logits = head->forward(f);  // the module's own path, in float64
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, torch::tensor({1}));
    loss.backward();

    // By hand: f̂ = (0.6, 0.8), z = (1.2, 1.6); logits = (1.3, 1.4, -1.2 + 0.8 + 0.3 = -0.1).
    const double l[3] = {1.3, 1.4, -0.1};
    double m = std::exp(l[0]) + std::exp(l[1]) + std::exp(l[2]);
    double p[3] = {std::exp(l[0]) / m, std::exp(l[1]) / m, std::exp(l[2]) / m};
    EXPECT_NEAR(loss.item<double>(), -std::log(p[1]), 1e-12);
    double d[3] = {p[0], p[1] - 1, p[2]};
    double dz[2] = {d[0] * 1 + d[1] * 0 + d[2] * -1, d[0] * 0 + d[1] * 1 + d[2] * 0.5};
    double fh[2] = {0.6, 0.8}, scale = 2.0 / 5.0;
    double dot = fh[0] * dz[0] + fh[1] * dz[1];
    EXPECT_NEAR(f.grad()[0][0].item<double>(), scale * (dz[0] - fh[0] * dot), 1e-12);
    EXPECT_NEAR(f.grad()[0][1].item<double>(), scale * (dz[1] - fh[1] * dot), 1e-12);
    EXPECT_NEAR(head->fc->weight.grad()[2][1].item<double>(), d[2] * 1.6, 1e-12);
    EXPECT_NEAR(head->fc->bias.grad()[0].item<double>(), d[0], 1e-12);
  }
  // Constrained features have norm α (float32 path), and a zero feature stays finite.
  torch::Tensor f = torch::randn({5, 2});
  torch::Tensor z = head->constrain(f);
  EXPECT_EQ(z.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(z.norm(2, 1), torch::full({5}, 2.0f), 1e-5, 1e-5));
  EXPECT_FALSE(head->constrain(torch::zeros({1, 2})).isnan().any().item<bool>());
}

TEST(Optimizer, ForeachSgdEqualsTorchSgd) {
  for (bool nesterov : {false, true}) {
    torch::manual_seed(3);
    std::vector<torch::Tensor> a = {torch::randn({4, 3}), torch::randn({7})};
    std::vector<torch::Tensor> b;
    for (auto& t : a) {
      t.requires_grad_(true);
      b.push_back(t.detach().clone().requires_grad_(true));
    }
    ForeachSgd mine(a, 0.9, 5e-4, nesterov);
    torch::optim::SGD ref(b, torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4).nesterov(nesterov));
    for (int step = 0; step < 5; ++step) {
      torch::Tensor target = torch::randn({4, 3});
      auto lossOf = [&](std::vector<torch::Tensor>& p) {
        return (p[0] - target).pow(2).sum() + p[1].pow(3).sum();
      };
      mine.zeroGrad();
      lossOf(a).backward();
      mine.step(0.1);
      ref.zero_grad();
      lossOf(b).backward();
      ref.step();
    }
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-7)) << "nesterov " << nesterov;
    }
  }
}

TEST(Optimizer, ScheduleValues) {
  OptimOptions o;
  o.lr = 0.1;
  o.max_steps = 110;
  o.warmup_steps = 10;
  o.schedule = "cosine";
  EXPECT_NEAR(learningRate(o, 0), 0.01, 1e-12);
  EXPECT_NEAR(learningRate(o, 9), 0.1, 1e-12);
  EXPECT_NEAR(learningRate(o, 10), 0.1, 1e-12);
  EXPECT_NEAR(learningRate(o, 60), 0.05, 1e-12);
  EXPECT_NEAR(learningRate(o, 110), 0.0, 1e-12);
  o.schedule = "step";
  o.milestones = {50, 80};
  EXPECT_NEAR(learningRate(o, 49), 0.1, 1e-12);
  EXPECT_NEAR(learningRate(o, 50), 0.01, 1e-12);
  EXPECT_NEAR(learningRate(o, 100), 0.001, 1e-12);
  o.schedule = "constant";
  EXPECT_NEAR(learningRate(o, 100), 0.1, 1e-12);
}

TEST(Backbone, TinyShapesAndErrors) {
  ModelOptions o;
  o.embedding_dim = 64;
  o.width = 8;
  for (int size : {32, 64, 112}) {
    auto net = makeBackbone(o, size);
    net->eval();
    torch::Tensor e = net->forward(torch::randn({2, 3, size, size}));
    EXPECT_EQ(e.sizes(), (std::vector<int64_t>{2, 64}));
  }
  o.norm = "none";
  auto plain = makeBackbone(o, 32);
  for (const auto& kv : plain->named_buffers()) ADD_FAILURE() << "unexpected buffer " << kv.key();
  EXPECT_THROW(makeBackbone(o, 40), std::invalid_argument);
  o.backbone = "resnet_what";
  EXPECT_THROW(makeBackbone(o, 32), std::invalid_argument);
}

// libtorch.so exports its own std::filesystem; if it interposes on the system libstdc++ (link
// order), remove_all on a nested tree crashes. Checkpoint retention depends on it.
TEST(Link, FilesystemRemoveAllResolvesToSystemLibstdcxx) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("l2face_rm_" + std::to_string(::getpid()));
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "f.txt") << "x";
  std::error_code ec;
  EXPECT_EQ(fs::remove_all(root, ec), 4u);
  EXPECT_FALSE(ec);
  EXPECT_FALSE(fs::exists(root));
}
