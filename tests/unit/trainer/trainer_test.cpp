// Tests of the trainer's small pieces: the paper's α bound, LR schedules, the finite-weights
// check, and a link-order guard.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "l2face/trainer/alpha.h"
#include "l2face/trainer/internal/head.h"
#include "l2face/trainer/internal/precision.h"
#include "l2face/trainer/internal/schedule.h"

using namespace l2face::trainer;

TEST(Alpha, LowerBoundMatchesPaper) {
  EXPECT_NEAR(alphaLowerBound(10000, 0.9), 11.41, 0.005);
  EXPECT_NEAR(alphaLowerBound(13403, 0.9), 11.70, 0.005);
  EXPECT_NEAR(alphaLowerBound(58207, 0.9), 13.17, 0.005);
  EXPECT_NEAR(alphaLowerBound(93431, 0.9), 13.64, 0.005);
  EXPECT_NEAR(alphaLowerBound(2060000, 0.9), 16.74, 0.01);
  // log(p(C−2)/(1−p)) by hand: C = 12, p = 0.9 -> log(90); p = 0.5 -> log(C − 2).
  EXPECT_NEAR(alphaLowerBound(12, 0.9), std::log(90.0), 1e-12);
  EXPECT_NEAR(alphaLowerBound(1002, 0.5), std::log(1000.0), 1e-12);
  EXPECT_THROW(alphaLowerBound(2, 0.9), std::invalid_argument);
  EXPECT_THROW(alphaLowerBound(10, 1.0), std::invalid_argument);
  EXPECT_THROW(alphaLowerBound(10, 0.0), std::invalid_argument);
  HeadOptions h;
  h.alpha_auto = true;
  EXPECT_NEAR(resolveAlpha(h, 10000), alphaLowerBound(10000, 0.9), 1e-12);
  h.p = 0.99;
  EXPECT_NEAR(resolveAlpha(h, 10000), std::log(0.99 * 9998 / 0.01), 1e-9);
  h.type = HeadType::kSoftmax;
  EXPECT_EQ(resolveAlpha(h, 10000), 0.0);
  h.type = HeadType::kArcFace;
  EXPECT_EQ(resolveAlpha(h, 10000), 0.0);
}

TEST(Schedule, WarmupThenEachDecayAtChosenSteps) {
  OptimOptions o;
  o.lr = 0.1;
  o.max_steps = 110;
  o.warmup_steps = 10;
  o.schedule = "cosine";
  EXPECT_NEAR(learningRate(o, 0), 0.01, 1e-12);
  EXPECT_NEAR(learningRate(o, 4), 0.05, 1e-12);
  EXPECT_NEAR(learningRate(o, 9), 0.1, 1e-12);
  EXPECT_NEAR(learningRate(o, 10), 0.1, 1e-12);
  EXPECT_NEAR(learningRate(o, 35), 0.05 * (1 + std::cos(M_PI / 4)), 1e-12);
  EXPECT_NEAR(learningRate(o, 60), 0.05, 1e-12);
  EXPECT_NEAR(learningRate(o, 110), 0.0, 1e-12);
  EXPECT_NEAR(learningRate(o, 500), 0.0, 1e-12);  // past the end: stays at the floor
  o.schedule = "polynomial";
  o.power = 2;
  EXPECT_NEAR(learningRate(o, 9), 0.1, 1e-12);  // warm-up is shared by every schedule
  EXPECT_NEAR(learningRate(o, 10), 0.1, 1e-12);
  EXPECT_NEAR(learningRate(o, 60), 0.1 * 0.25, 1e-12);
  EXPECT_NEAR(learningRate(o, 85), 0.1 * 0.0625, 1e-12);
  EXPECT_NEAR(learningRate(o, 110), 0.0, 1e-12);
  o.power = 1;
  EXPECT_NEAR(learningRate(o, 85), 0.025, 1e-12);
  o.schedule = "step";
  o.milestones = {50, 80};
  EXPECT_NEAR(learningRate(o, 49), 0.1, 1e-12);
  EXPECT_NEAR(learningRate(o, 50), 0.01, 1e-12);
  EXPECT_NEAR(learningRate(o, 100), 0.001, 1e-12);
  o.schedule = "constant";
  EXPECT_NEAR(learningRate(o, 100), 0.1, 1e-12);
  o.warmup_steps = 0;
  EXPECT_NEAR(learningRate(o, 0), 0.1, 1e-12);
  o.schedule = "linear";
  EXPECT_THROW(learningRate(o, 0), std::invalid_argument);
}

TEST(Precision, AutoIsBf16OnCudaOnlyAndCpuRefusesBf16) {
  EXPECT_EQ(resolvePrecision("auto", torch::kCPU), "fp32");
  EXPECT_EQ(resolvePrecision("fp32", torch::kCPU), "fp32");
  EXPECT_EQ(resolvePrecision("auto", torch::Device(torch::kCUDA)), "bf16");
  EXPECT_THROW(resolvePrecision("bf16", torch::kCPU), std::invalid_argument);
  // Autocast is off outside the guard and on (bf16) inside it; a disabled guard changes nothing.
  {
    AutocastGuard off(torch::kCPU, false);
    EXPECT_EQ(torch::mm(torch::randn({2, 2}), torch::randn({2, 2})).scalar_type(), torch::kFloat);
  }
  {
    AutocastGuard on(torch::kCPU, true);  // CPU autocast exists; training never enables it there
    EXPECT_EQ(torch::mm(torch::randn({2, 2}), torch::randn({2, 2})).scalar_type(),
              torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(torch::randn({2, 2}), torch::randn({2, 2})).scalar_type(), torch::kFloat);
}

TEST(Precision, ChannelsLastConvertsConvolutionWeightsOnly) {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                            torch::nn::Flatten(), torch::nn::Linear(4 * 6 * 6, 2));
  toChannelsLast(*net);
  auto p = net->named_parameters();
  EXPECT_TRUE(p["0.weight"].is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(p["0.weight"].is_contiguous());
  EXPECT_TRUE(p["2.weight"].is_contiguous());
  // Same results in either layout.
  torch::Tensor x = torch::randn({2, 3, 8, 8});
  torch::nn::Sequential ref(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                            torch::nn::Flatten(), torch::nn::Linear(4 * 6 * 6, 2));
  {
    torch::NoGradGuard g;
    auto r = ref->named_parameters();
    for (auto& kv : p) r[kv.key()].copy_(kv.value());
  }
  EXPECT_TRUE(torch::allclose(net->forward(x.contiguous(at::MemoryFormat::ChannelsLast)),
                              ref->forward(x), 1e-5, 1e-6));
}

TEST(Precision, AllFiniteSeesParametersAndBuffers) {
  torch::nn::Sequential net(torch::nn::Linear(3, 2), torch::nn::BatchNorm1d(2));
  EXPECT_TRUE(allFinite(*net));
  {
    torch::NoGradGuard g;
    net->named_buffers()["1.running_var"].fill_(std::nan(""));
  }
  EXPECT_FALSE(allFinite(*net));
  torch::nn::Linear fc(3, 2);
  {
    torch::NoGradGuard g;
    fc->weight[0][1] = std::numeric_limits<float>::infinity();
  }
  EXPECT_FALSE(allFinite(*fc));
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
