// Every MPI-backend collective for every dtype and op, uneven and empty sizes, async ordering.
#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

#include "l2face/comm/internal/cuda_util.h"
#include "mpi_test_util.h"

using namespace l2face::comm;
using namespace l2face::comm::testing;

namespace {

// Sizes that leave ring chunks uneven or empty, plus one whose chunks span several segments.
std::vector<size_t> sizesFor(int world) {
  size_t p = static_cast<size_t>(world);
  return {0, 1, p + 1, 2 * p - 1, 1001, 600011};
}

template <typename T>
T expectedReduce(ReduceOp op, int world, size_t i) {
  T acc = valueAt<T>(0, i);
  for (int r = 1; r < world; ++r) {
    T v = valueAt<T>(r, i);
    if (op == ReduceOp::kMax)
      acc = std::max(acc, v);
    else if (op == ReduceOp::kMin)
      acc = std::min(acc, v);
    else
      acc = static_cast<T>(acc + v);
  }
  if (op == ReduceOp::kAvg) {
    if constexpr (std::is_floating_point_v<T>) {
      acc *= T(1) / static_cast<T>(world);
    } else {
      acc = static_cast<T>(acc / static_cast<T>(world));
    }
  }
  return acc;
}

template <typename T>
void checkAllReduce(Communicator& c, DType dtype) {
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin}) {
    for (size_t n : sizesFor(c.size())) {
      std::vector<T> x(n);
      for (size_t i = 0; i < n; ++i) x[i] = valueAt<T>(c.rank(), i);
      c.allReduce(x.data(), n, dtype, op);
      size_t bad = 0;
      for (size_t i = 0; i < n; ++i) bad += x[i] != expectedReduce<T>(op, c.size(), i);
      EXPECT_EQ(bad, 0u) << dtypeName(dtype) << " " << reduceOpName(op) << " n=" << n;
    }
  }
}

template <typename T>
void checkGatherScatterBroadcast(Communicator& c, DType dtype) {
  const size_t world = static_cast<size_t>(c.size());
  for (size_t n : sizesFor(c.size())) {
    // allGather: block r holds rank r's values.
    std::vector<T> mine(n), all(n * world);
    for (size_t i = 0; i < n; ++i) mine[i] = valueAt<T>(c.rank(), i);
    c.allGather(mine.data(), all.data(), n, dtype);
    size_t bad = 0;
    for (size_t r = 0; r < world; ++r) {
      for (size_t i = 0; i < n; ++i) bad += all[r * n + i] != valueAt<T>(static_cast<int>(r), i);
    }
    EXPECT_EQ(bad, 0u) << "allgather " << dtypeName(dtype) << " n=" << n;

    // reduceScatter: this rank gets block rank() of the element-wise sum.
    std::vector<T> send(n * world), recv(n);
    for (size_t j = 0; j < n * world; ++j) send[j] = valueAt<T>(c.rank(), j);
    c.reduceScatter(send.data(), recv.data(), n, dtype, ReduceOp::kSum);
    bad = 0;
    for (size_t i = 0; i < n; ++i) {
      bad += recv[i] != expectedReduce<T>(ReduceOp::kSum, c.size(), c.rank() * n + i);
    }
    EXPECT_EQ(bad, 0u) << "reducescatter " << dtypeName(dtype) << " n=" << n;

    // broadcast from the last rank.
    const int root = c.size() - 1;
    std::vector<T> b(n);
    for (size_t i = 0; i < n; ++i) b[i] = valueAt<T>(c.rank(), i);
    c.broadcast(b.data(), n, dtype, root);
    bad = 0;
    for (size_t i = 0; i < n; ++i) bad += b[i] != valueAt<T>(root, i);
    EXPECT_EQ(bad, 0u) << "broadcast " << dtypeName(dtype) << " n=" << n;
  }
}

}  // namespace

TEST(MpiCollectives, AllReduceEveryDtypeOpAndUnevenSize) {
  auto c = mpiCommunicator();
  EXPECT_EQ(c->backend(), "mpi");
  checkAllReduce<float>(*c, DType::kFloat32);
  checkAllReduce<double>(*c, DType::kFloat64);
  checkAllReduce<int32_t>(*c, DType::kInt32);
  checkAllReduce<int64_t>(*c, DType::kInt64);
  checkAllReduce<uint8_t>(*c, DType::kUInt8);
}

TEST(MpiCollectives, AllGatherReduceScatterBroadcastEveryDtype) {
  auto c = mpiCommunicator();
  checkGatherScatterBroadcast<float>(*c, DType::kFloat32);
  checkGatherScatterBroadcast<double>(*c, DType::kFloat64);
  checkGatherScatterBroadcast<int32_t>(*c, DType::kInt32);
  checkGatherScatterBroadcast<int64_t>(*c, DType::kInt64);
  checkGatherScatterBroadcast<uint8_t>(*c, DType::kUInt8);
}

TEST(MpiCollectives, AllGatherInPlaceAndBroadcastFromEveryRoot) {
  auto c = mpiCommunicator();
  const size_t n = 5, world = static_cast<size_t>(c->size());
  std::vector<int32_t> all(n * world, -1);
  for (size_t i = 0; i < n; ++i) all[c->rank() * n + i] = valueAt<int32_t>(c->rank(), i);
  c->allGather(all.data() + c->rank() * n, all.data(), n, DType::kInt32);
  for (size_t r = 0; r < world; ++r) {
    EXPECT_EQ(all[r * n + 4], valueAt<int32_t>(static_cast<int>(r), 4));
  }
  for (int root = 0; root < c->size(); ++root) {
    double v = c->rank() == root ? 100.0 + root : -1.0;
    c->broadcast(&v, 1, DType::kFloat64, root);
    EXPECT_EQ(v, 100.0 + root);
  }
  EXPECT_THROW(c->broadcast(all.data(), 1, DType::kInt32, c->size()), CommError);
}

TEST(MpiCollectives, ManyAsyncCollectivesInFlightCompleteInOrder) {
  auto c = mpiCommunicator();
  const int k = 40;
  std::vector<std::vector<float>> bufs(k);
  std::vector<WorkPtr> works;
  const uint64_t before = c->sequence();
  for (int j = 0; j < k; ++j) {
    bufs[j].assign(static_cast<size_t>(1 + j * 977), static_cast<float>(c->rank() + j));
    works.push_back(
        c->allReduceAsync(bufs[j].data(), bufs[j].size(), DType::kFloat32, ReduceOp::kSum));
  }
  EXPECT_EQ(c->sequence(), before + k);
  works.back()->wait();
  for (int j = 0; j < k; ++j) EXPECT_TRUE(works[j]->done()) << j;  // completion is in order
  const float world = static_cast<float>(c->size());
  for (int j = 0; j < k; ++j) {
    works[j]->wait();
    float want = world * (world - 1) / 2 + world * static_cast<float>(j);
    EXPECT_EQ(bufs[j].front(), want);
    EXPECT_EQ(bufs[j].back(), want);
  }
  EXPECT_TRUE(sameOnEveryRank(*c, c->sequence()));
}

TEST(MpiCollectives, FloatSumsAreBitIdenticalOnEveryRank) {
  auto c = mpiCommunicator();
  std::mt19937 rng(1234u + static_cast<unsigned>(c->rank()));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t n : {size_t{17}, size_t{300007}}) {
    std::vector<float> x(n);
    for (float& v : x) v = u(rng) * 1e3f;
    c->allReduce(x.data(), n, DType::kFloat32, ReduceOp::kAvg);
    EXPECT_TRUE(sameOnEveryRank(*c, fingerprint(x.data(), n * sizeof(float)))) << n;
  }
}

TEST(MpiCollectives, CommunicatorsComeAndGo) {
  for (int round = 0; round < 3; ++round) {
    auto c = mpiCommunicator();
    int64_t v = 1;
    c->allReduce(&v, 1, DType::kInt64, ReduceOp::kSum);
    EXPECT_EQ(v, c->size());
    c->barrier();
  }
}

// Under mpirun, a CPU run picks mpi even when GPUs are visible (nccl would get host tensors).
TEST(MpiCollectives, AutoGivesCpuTensorsAHostBackend) {
  setVisibleCudaDevicesForTesting(2);
  CommOptions o;
  o.tensors = TensorDevice::kCpu;
  const RunContext ctx = runContextFromEnvironment();
  const Backend b = resolveBackend(o, ctx);
  setVisibleCudaDevicesForTesting(-1);
  EXPECT_EQ(b, ctx.world_size == 1 ? Backend::kLocal : Backend::kMpi);
}
