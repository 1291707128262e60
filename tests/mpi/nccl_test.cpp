// The NCCL backend and GradSync on device memory; skipped where no CUDA device is visible.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

#include "l2face/comm/grad_sync.h"
#include "l2face/comm/run_context.h"

using namespace l2face::comm;

namespace {

int devices() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

std::unique_ptr<Communicator> ncclOrSkip() {
  RunContext ctx = runContextFromEnvironment();
  if (devices() < ctx.local_size) return nullptr;
  CommOptions o;
  o.backend = Backend::kNccl;
  o.timeout_seconds = 60;
  return makeCommunicator(o, ctx);
}

template <typename T>
T* toDevice(const std::vector<T>& v) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, v.size() * sizeof(T) + 1), cudaSuccess);
  cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}

template <typename T>
std::vector<T> toHost(const T* d, size_t n) {
  std::vector<T> v(n);
  cudaDeviceSynchronize();
  cudaMemcpy(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
  return v;
}

}  // namespace

TEST(Nccl, CollectivesOnDeviceMemory) {
  auto c = ncclOrSkip();
  if (!c) GTEST_SKIP() << "needs one CUDA device per local rank";
  EXPECT_EQ(c->backend(), "nccl");
  EXPECT_EQ(c->memoryKind(), MemoryKind::kCuda);
  const size_t n = 1001, world = static_cast<size_t>(c->size());
  std::vector<float> h(n, static_cast<float>(c->rank() + 1));
  float* d = toDevice(h);
  c->allReduce(d, n, DType::kFloat32, ReduceOp::kSum);
  EXPECT_EQ(toHost(d, n)[n - 1], static_cast<float>(world * (world + 1) / 2));
  c->allReduce(d, n, DType::kFloat32, ReduceOp::kAvg);
  EXPECT_EQ(toHost(d, n)[0], static_cast<float>(world * (world + 1) / 2) / world);
  std::vector<int64_t> mine(3, c->rank());
  int64_t* dm = toDevice(mine);
  int64_t* all = toDevice(std::vector<int64_t>(3 * world, -1));
  c->allGather(dm, all, 3, DType::kInt64);
  auto got = toHost(all, 3 * world);
  for (size_t r = 0; r < world; ++r) EXPECT_EQ(got[r * 3 + 2], static_cast<int64_t>(r));
  c->barrier();
  // Host memory is refused with an explanation, not a crash inside NCCL.
  EXPECT_THROW(c->allReduce(h.data(), n, DType::kFloat32, ReduceOp::kSum), CommError);
  cudaFree(d);
  cudaFree(dm);
  cudaFree(all);
}

TEST(Nccl, GradSyncAveragesDeviceGradients) {
  auto c = ncclOrSkip();
  if (!c) GTEST_SKIP() << "needs one CUDA device per local rank";
  GradSyncOptions o;
  o.first_bucket_bytes = o.bucket_cap_bytes = 64;
  GradSync sync(*c, {40, 3, 17}, o);
  std::vector<float*> grads;
  for (size_t n : {40, 3, 17})
    grads.push_back(toDevice(std::vector<float>(n, 2.f * (c->rank() + 1))));
  sync.markReady(2, grads[2]);
  sync.markReady(0, grads[0]);  // parameter 1 unused
  sync.finish(grads.data());
  const float world = static_cast<float>(c->size());
  EXPECT_EQ(toHost(grads[0], 40)[39], (world + 1));
  EXPECT_EQ(toHost(grads[1], 3)[0], 0.f);
  for (float* g : grads) cudaFree(g);
}

TEST(Nccl, MpiBackendStagesDeviceBuffersThroughHostMemory) {
  if (devices() == 0) GTEST_SKIP() << "needs a CUDA device";
  CommOptions o;
  o.backend = Backend::kMpi;
  o.timeout_seconds = 60;
  auto c = makeCommunicator(o, runContextFromEnvironment());
  const size_t n = 333, world = static_cast<size_t>(c->size());
  float* d = toDevice(std::vector<float>(n, static_cast<float>(c->rank())));
  WorkPtr w = c->allReduceAsync(d, n, DType::kFloat32, ReduceOp::kSum);
  w->wait();  // the copy back to the device happens here
  EXPECT_EQ(toHost(d, n)[n - 1], static_cast<float>(world * (world - 1) / 2));
  float* all = toDevice(std::vector<float>(n * world, -1.f));
  c->allGather(d, all, n, DType::kFloat32);
  EXPECT_EQ(toHost(all, n * world)[n * world - 1], static_cast<float>(world * (world - 1) / 2));
  // GradSync with host buckets takes device gradients too.
  GradSync sync(*c, {n}, {});
  sync.markReady(0, d);
  sync.finish(&d);
  EXPECT_EQ(toHost(d, n)[0], static_cast<float>(world * (world - 1) / 2));
  cudaFree(d);
  cudaFree(all);
}
