// DataParallel under mpirun: gradients are views into GradSync's buckets, accumulate and clip in
// place, survive set-to-none, and equal one process's gradients bit for bit.
#include "l2face/trainer/internal/data_parallel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "l2face/trainer/internal/precision.h"
#include "mpi_test_util.h"

using namespace l2face;
using namespace l2face::comm::testing;

namespace {

// The same toy network and the same inputs on every rank: the average over ranks of identical
// gradients is exact ((g + g) / 2 and the like), so the results must equal one process's.
struct Net {
  Net() {
    torch::manual_seed(7);
    a = torch::nn::Linear(5, 4);
    b = torch::nn::Linear(4, 3);
  }
  std::vector<torch::Tensor> params() {
    auto p = a->parameters();
    for (auto& q : b->parameters()) p.push_back(q);
    return p;
  }
  void backward(int micro) {
    torch::manual_seed(100 + micro);
    torch::Tensor x = torch::randn({6, 5});
    b->forward(torch::tanh(a->forward(x))).square().sum().div(2).backward();
  }
  torch::nn::Linear a{nullptr}, b{nullptr};
};

bool insideBuckets(const torch::Tensor& g, const std::vector<const float*>& first_ptrs) {
  return std::find(first_ptrs.begin(), first_ptrs.end(), g.data_ptr<float>()) != first_ptrs.end();
}

}  // namespace

TEST(DataParallelMpi, GradientsAreBucketViewsAndMatchOneProcess) {
  auto c = mpiCommunicator();
  Net dp_net, ref;
  std::vector<torch::Tensor> params = dp_net.params();
  trainer::DataParallel dp(*c, params, comm::GradSyncOptions{64, 64});
  ASSERT_TRUE(dp.gradientsAreBucketViews());
  std::vector<const float*> views;
  for (auto& p : params) views.push_back(p.grad().data_ptr<float>());

  for (int step = 0; step < 3; ++step) {
    // What the optimizer's zero_grad(set_to_none) does, then the step's start.
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    for (auto& p : ref.params()) p.mutable_grad() = torch::Tensor();
    dp.zeroGrad();
    for (int micro = 0; micro < 2; ++micro) {  // gradient accumulation over two micro-batches
      dp.setSync(micro == 1);
      dp_net.backward(micro);
      ref.backward(micro);
    }
    dp.finish();
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> grads;
    for (size_t i = 0; i < params.size(); ++i) {
      const torch::Tensor& g = params[i].grad();
      EXPECT_EQ(g.data_ptr<float>(), views[i]) << "parameter " << i << " left its bucket";
      EXPECT_TRUE(torch::equal(g, ref.params()[i].grad())) << "parameter " << i;
      grads.push_back(g);
    }
    at::_foreach_mul_(grads, 0.5);  // clipping scales in place: still the views
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(insideBuckets(params[i].grad(), views));
      EXPECT_TRUE(torch::equal(params[i].grad(), ref.params()[i].grad() * 0.5));
    }
  }
  EXPECT_EQ(dp.stats().steps, 3u);
}

TEST(DataParallelMpi, GradientsOutliveTheBuckets) {
  auto c = mpiCommunicator();
  Net net;
  std::vector<torch::Tensor> params = net.params();
  torch::Tensor kept;
  {
    trainer::DataParallel dp(*c, params, {});
    dp.zeroGrad();
    net.backward(0);
    dp.finish();
    kept = params[0].grad().clone();
  }
  ASSERT_TRUE(params[0].grad().defined());
  EXPECT_TRUE(torch::equal(params[0].grad(), kept));  // its own memory, same values
}

// Channels-last convolution weights (run.channels_last): the start-up broadcast takes them as
// they are, and the gradients are bucket views in the same layout, equal to one process's.
TEST(DataParallelMpi, ChannelsLastWeightsBroadcastAndAverage) {
  auto c = mpiCommunicator();
  auto convNet = [](uint64_t seed) {
    torch::manual_seed(seed);
    torch::nn::Sequential s(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).padding(1)),
                            torch::nn::BatchNorm2d(4), torch::nn::Conv2d(4, 2, 3));
    trainer::toChannelsLast(*s);  // what run.channels_last does to the backbone
    return s;
  };
  auto net = convNet(50 + static_cast<uint64_t>(c->rank()));  // every rank starts elsewhere
  auto ref = convNet(50);                                      // rank 0's start
  std::vector<torch::Tensor> params = net->parameters();
  ASSERT_TRUE(params[0].is_contiguous(torch::MemoryFormat::ChannelsLast));
  ASSERT_FALSE(params[0].is_contiguous());
  trainer::DataParallel dp(*c, params, comm::GradSyncOptions{256, 256});
  dp.broadcastFromRank0(net->buffers());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::equal(params[i], ref->parameters()[i])) << "parameter " << i;
  }
  ASSERT_TRUE(params[0].is_contiguous(torch::MemoryFormat::ChannelsLast));

  dp.zeroGrad();
  torch::manual_seed(9);
  torch::Tensor x = torch::randn({2, 3, 6, 6}).contiguous(torch::MemoryFormat::ChannelsLast);
  net->forward(x).square().sum().backward();
  ref->forward(x).square().sum().backward();
  dp.finish();
  for (size_t i = 0; i < params.size(); ++i) {
    const torch::Tensor& g = params[i].grad();
    EXPECT_EQ(g.strides(), params[i].strides()) << "parameter " << i;
    EXPECT_TRUE(torch::equal(g, ref->parameters()[i].grad())) << "parameter " << i;
  }
}
