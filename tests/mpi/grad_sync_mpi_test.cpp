// GradSync under mpirun: P ranks × batch B train like 1 process × batch P·B; unused parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "l2face/comm/grad_sync.h"
#include "l2face/comm/internal/buffer_memory.h"
#include "l2face/comm/internal/staging.h"
#include "mpi_test_util.h"
#include "toy_model.h"

using namespace l2face::comm;
using namespace l2face::comm::testing;

namespace {

constexpr int kBatchPerRank = 3;
constexpr int kSteps = 6;
constexpr float kLr = 0.2f;

// The single-process oracle: full global batches of world × kBatchPerRank samples.
ToyModel trainFullBatch(int world, int micro_steps) {
  ToyModel m;
  const int64_t g = static_cast<int64_t>(world) * kBatchPerRank;
  for (int s = 0; s < kSteps; ++s) {
    auto grads = m.zeroGradients();
    m.accumulateGradients(static_cast<int64_t>(s) * g * micro_steps, g * micro_steps, grads, 1.f);
    m.sgdStep(grads, kLr);
  }
  return m;
}

enum class Order { kReverse, kShuffledPerRank };

struct Case {
  size_t first_bucket_bytes;
  size_t bucket_cap_bytes;
  Order order;
  int micro_steps;
};

// Each rank takes its slice of every global batch; GradSync averages; with micro_steps > 1 the
// first micro-steps accumulate locally with synchronisation off.
ToyModel trainDistributed(Communicator& c, const Case& k, size_t* buckets) {
  ToyModel m;
  // Ranks start different; the broadcast from rank 0 makes them equal, as at the start of training.
  for (auto& p : m.params) {
    for (float& v : p) v += 0.01f * static_cast<float>(c.rank());
  }
  std::vector<WorkPtr> works;
  for (auto& p : m.params) {
    works.push_back(c.broadcastAsync(p.data(), p.size(), DType::kFloat32, 0));
  }
  for (auto& w : works) w->wait();

  GradSyncOptions o;
  o.first_bucket_bytes = k.first_bucket_bytes;
  o.bucket_cap_bytes = k.bucket_cap_bytes;
  GradSync sync(c, ToyModel::sizes(), o);
  *buckets = sync.bucketCount();
  std::mt19937 rng(99u + static_cast<unsigned>(c.rank()));
  const int64_t g = static_cast<int64_t>(c.size()) * kBatchPerRank;
  for (int s = 0; s < kSteps; ++s) {
    auto grads = m.zeroGradients();
    for (int micro = 0; micro < k.micro_steps; ++micro) {
      const bool last = micro == k.micro_steps - 1;
      sync.setSyncEnabled(last);
      const int64_t first = (static_cast<int64_t>(s) * k.micro_steps + micro) * g +
                            static_cast<int64_t>(c.rank()) * kBatchPerRank;
      m.accumulateGradients(first, kBatchPerRank, grads, 1.f / static_cast<float>(k.micro_steps));
      std::vector<size_t> order = {3, 2, 1, 0};  // what backward produces
      if (k.order == Order::kShuffledPerRank) std::shuffle(order.begin(), order.end(), rng);
      for (size_t p : order) sync.markReady(p, grads[p].data());
      std::vector<float*> out;
      for (auto& gr : grads) out.push_back(gr.data());
      sync.finish(out.data());
    }
    m.sgdStep(grads, kLr);
  }
  EXPECT_EQ(sync.stats().steps, static_cast<uint64_t>(kSteps));
  return m;
}

void expectClose(const ToyModel& got, const ToyModel& want, const std::string& what) {
  // Normwise: summation order differs (per-rank partial means, then the average), which moves
  // individual small weights by more ulps than large ones.
  float worst = 0, scale = 0;
  for (size_t p = 0; p < want.params.size(); ++p) {
    for (size_t i = 0; i < want.params[p].size(); ++i) {
      worst = std::max(worst, std::fabs(got.params[p][i] - want.params[p][i]));
      scale = std::max(scale, std::fabs(want.params[p][i]));
    }
  }
  EXPECT_LT(worst, 1e-6f * scale) << what << " (largest weight " << scale << ")";
}

}  // namespace

TEST(GradSyncMpi, PRanksEqualOneProcessWithThePBatch) {
  auto c = mpiCommunicator();
  const ToyModel oracle = trainFullBatch(c->size(), 1);
  const std::vector<Case> cases = {
      {4, 4, Order::kReverse, 1},          // buckets smaller than any parameter
      {4, 4, Order::kShuffledPerRank, 1},  // ... filled in a different order on each rank
      {size_t{1} << 30, size_t{1} << 30, Order::kReverse, 1},  // one bucket larger than all
      {64, 300, Order::kShuffledPerRank, 1},                   // a mix
  };
  for (const Case& k : cases) {
    size_t buckets = 0;
    ToyModel m = trainDistributed(*c, k, &buckets);
    std::string what = "caps " + std::to_string(k.first_bucket_bytes) + "/" +
                       std::to_string(k.bucket_cap_bytes) + ", " + std::to_string(buckets) +
                       " buckets";
    expectClose(m, oracle, what);
    uint64_t h = 0;
    for (auto& p : m.params) h ^= fingerprint(p.data(), p.size() * sizeof(float));
    EXPECT_TRUE(sameOnEveryRank(*c, h)) << "replicas diverged: " << what;
    if (k.bucket_cap_bytes == 4) EXPECT_EQ(buckets, 4u);
    if (k.bucket_cap_bytes == size_t{1} << 30) EXPECT_EQ(buckets, 1u);
  }
}

TEST(GradSyncMpi, AccumulationSynchronisesOnlyTheLastMicroStep) {
  auto c = mpiCommunicator();
  const ToyModel oracle = trainFullBatch(c->size(), 2);
  size_t buckets = 0;
  ToyModel m = trainDistributed(*c, {64, 300, Order::kReverse, 2}, &buckets);
  expectClose(m, oracle, "2 micro-steps");
}

TEST(GradSyncMpi, UnusedParametersDoNotHangAndCountAsZero) {
  auto c = mpiCommunicator(20);
  // Parameter 1 is used by even ranks only, parameter 3 by nobody; tiny buckets put each alone.
  GradSyncOptions o;
  o.first_bucket_bytes = o.bucket_cap_bytes = 4;
  GradSync sync(*c, {6, 5, 4, 3}, o);
  for (int step = 0; step < 3; ++step) {
    std::vector<std::vector<float>> g = {std::vector<float>(6, 1.f + c->rank()),
                                         std::vector<float>(5, 10.f), std::vector<float>(4, 2.f),
                                         std::vector<float>(3, 7.f)};
    sync.markReady(2, g[2].data());
    if (c->rank() % 2 == 0) sync.markReady(1, g[1].data());
    sync.markReady(0, g[0].data());
    std::vector<float*> out;
    for (auto& v : g) out.push_back(v.data());
    sync.finish(out.data());
    const float world = static_cast<float>(c->size());
    const float even_ranks = std::ceil(world / 2);
    EXPECT_FLOAT_EQ(g[0][5], (world * (world + 1) / 2) / world);
    EXPECT_FLOAT_EQ(g[1][0], 10.f * even_ranks / world);
    EXPECT_FLOAT_EQ(g[2][3], 2.f);
    EXPECT_EQ(g[3][0], 0.f);
  }
  const GradSyncStats stats = sync.stats();
  EXPECT_GT(stats.exposed_seconds, 0.0);
  // Every bucket's all-reduce was timed (3 steps × 4 buckets), by the backend itself.
  EXPECT_EQ(stats.allreduces_timed, 12u);
  ASSERT_EQ(stats.recent_allreduce_seconds.size(), 12u);
  for (double s : stats.recent_allreduce_seconds) {
    EXPECT_GE(s, 0.0);
    if (c->size() > 1) EXPECT_GT(s, 0.0);  // ranks exchanged messages
    EXPECT_LT(s, 20.0);
  }
}

TEST(GradSyncMpi, DifferentModelsOnDifferentRanksAreRefused) {
  auto c = mpiCommunicator();
  if (c->size() == 1) GTEST_SKIP() << "needs two ranks";
  std::vector<size_t> sizes = {4, c->rank() == 0 ? size_t{5} : size_t{4}};
  EXPECT_THROW(GradSync(*c, sizes, {}), CommError);
}

namespace {

// Host staging that counts what the decorator asks of it (standing in for pinned memory and
// device copies).
struct CountingStaging final : StagingMemory {
  void* allocate(size_t bytes) override {
    ++allocations;
    return host->allocate(bytes);
  }
  void release(void* p) noexcept override { host->release(p); }
  void copyIn(void* staged, const void* caller, size_t bytes, void* stream) override {
    ++copies;
    host->copyIn(staged, caller, bytes, stream);
  }
  void copyOut(void* caller, const void* staged, size_t bytes, void* stream) override {
    ++copies;
    host->copyOut(caller, staged, bytes, stream);
  }
  void synchronize(void* stream) override { host->synchronize(stream); }
  std::shared_ptr<StagingMemory> host = makeHostStagingMemory();
  int allocations = 0, copies = 0;
};

// Per-rank gradients of step s, written straight into the bucket views (gradients as views).
void fillViews(GradSync& sync, int rank, int s) {
  const auto sizes = ToyModel::sizes();
  for (size_t p = sizes.size(); p-- > 0;) {
    float* v = sync.gradView(p);
    for (size_t i = 0; i < sizes[p]; ++i) {
      v[i] = std::sin(0.37f * static_cast<float>(i + 11 * p) + 0.5f * rank + 0.9f * s) * 3.f;
    }
    sync.markReady(p, v);
  }
}

}  // namespace

// A host backend staging device buckets (mpi with CUDA gradients): two copies per bucket and
// step (in, back), none per parameter, no allocation after the second step, and results equal
// to the unstaged backend's bit for bit.
TEST(GradSyncMpi, StagedBucketsCopyTwicePerBucketAndMatchTheUnstagedResult) {
  auto c = mpiCommunicator();
  auto memory = std::make_shared<CountingStaging>();
  std::vector<std::pair<const char*, const char*>> buckets;  // [begin, end) of each bucket
  StagingOptions so;
  so.memory = memory;
  so.needs_staging = [&buckets](const void* p) {
    const char* q = static_cast<const char*>(p);
    return std::any_of(buckets.begin(), buckets.end(),
                       [q](const auto& b) { return q >= b.first && q < b.second; });
  };
  StagingCommunicator staged(*c, nullptr, so);
  GradSyncOptions o;
  o.first_bucket_bytes = 16;
  o.bucket_cap_bytes = 64;
  o.bucket_memory = makeHostMemory();  // stands in for device memory (device_buckets)
  GradSync viaStaging(staged, ToyModel::sizes(), o);
  GradSync direct(*c, ToyModel::sizes(), o);
  ASSERT_GT(viaStaging.bucketCount(), 2u);
  for (size_t p = 0; p < ToyModel::sizes().size(); ++p) {
    const char* v = reinterpret_cast<const char*>(viaStaging.gradView(p));
    buckets.push_back({v, v + ToyModel::sizes()[p] * sizeof(float)});
  }
  int allocations_after_two = 0;
  for (int s = 0; s < 4; ++s) {
    const int copies0 = memory->copies;
    fillViews(viaStaging, c->rank(), s);
    viaStaging.finish(nullptr);
    EXPECT_EQ(memory->copies - copies0, 2 * static_cast<int>(viaStaging.bucketCount()));
    fillViews(direct, c->rank(), s);
    direct.finish(nullptr);
    for (size_t p = 0; p < ToyModel::sizes().size(); ++p) {
      EXPECT_EQ(std::memcmp(viaStaging.gradView(p), direct.gradView(p),
                            ToyModel::sizes()[p] * sizeof(float)),
                0)
          << "parameter " << p << " step " << s;
    }
    if (s == 1) allocations_after_two = memory->allocations;
  }
  EXPECT_EQ(memory->allocations, allocations_after_two) << "staging buffers are reused";
}
