// GradSync with one rank: bucket layout, launch order, unused parameters, accumulation, views.
#include "l2face/comm/grad_sync.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "fake_comm.h"
#include "l2face/comm/internal/interval_clock.h"

using namespace l2face::comm;

namespace {

// A world of one that records the buffers of the all-reduces it is asked for, and whose works
// complete only when release() is called, so tests can see what was launched before finish().
class RecordingComm final : public fakes::FakeComm {
 public:
  RecordingComm() : FakeComm(1, "recording") {}
  std::vector<std::pair<float*, size_t>> launched;

 protected:
  WorkPtr launch(const Collective& c) override {
    ++seq;
    if (c.kind != CollectiveKind::kAllReduce) return std::make_shared<fakes::PendingWork>(true);
    EXPECT_EQ(c.op, ReduceOp::kAvg);
    launched.push_back({static_cast<float*>(c.recv), c.count});
    return std::make_shared<fakes::PendingWork>();
  }
};

GradSyncOptions caps(size_t first, size_t rest) {
  GradSyncOptions o;
  o.first_bucket_bytes = first;
  o.bucket_cap_bytes = rest;
  return o;
}

}  // namespace

TEST(GradSync, BucketsInReverseOrderWithASmallFirstBucket) {
  auto comm = makeLocalCommunicator();
  // 4 params of 100, 50, 300, 10 floats; first cap 400 B, then 800 B.
  GradSync gs(*comm, {100, 50, 300, 10}, caps(400, 800));
  ASSERT_EQ(gs.bucketCount(), 2u);
  EXPECT_EQ(gs.bucketOf(3), 0u);  // 10 + 300 floats reach the first cap (1240 B >= 400 B)
  EXPECT_EQ(gs.bucketOf(2), 0u);
  EXPECT_EQ(gs.bucketOf(1), 1u);  // 50 + 100 floats reach 600 B < 800 B: one bucket to the end
  EXPECT_EQ(gs.bucketOf(0), 1u);
  EXPECT_EQ(gs.bucketBytes(0), 310u * 4);
}

TEST(GradSync, CapSmallerThanAParameterGivesEachItsOwnBucket) {
  auto comm = makeLocalCommunicator();
  GradSync gs(*comm, {8, 8, 8}, caps(4, 4));
  EXPECT_EQ(gs.bucketCount(), 3u);
  GradSync one(*comm, {8, 8, 8}, caps(size_t{1} << 30, size_t{1} << 30));
  EXPECT_EQ(one.bucketCount(), 1u);
}

TEST(GradSync, LaunchesEachBucketAsSoonAsItAndEveryEarlierOneIsReady) {
  RecordingComm comm;
  GradSync gs(comm, {4, 4, 4, 4}, caps(16, 16));  // one bucket per parameter: 3, 2, 1, 0
  ASSERT_EQ(gs.bucketCount(), 4u);
  std::vector<float> g(4, 1.f);
  comm.launched.clear();
  gs.markReady(1, g.data());  // bucket 2: must wait for buckets 0 and 1
  EXPECT_TRUE(comm.launched.empty());
  gs.markReady(3, g.data());  // bucket 0
  ASSERT_EQ(comm.launched.size(), 1u);
  EXPECT_EQ(comm.launched[0].first, gs.gradView(3));
  gs.markReady(2, g.data());  // bucket 1, which releases bucket 2 too
  ASSERT_EQ(comm.launched.size(), 3u);
  EXPECT_EQ(comm.launched[1].first, gs.gradView(2));
  EXPECT_EQ(comm.launched[2].first, gs.gradView(1));
  gs.finish(nullptr);  // parameter 0 unused: launched by finish
  ASSERT_EQ(comm.launched.size(), 4u);
  EXPECT_EQ(comm.launched[3].first, gs.gradView(0));
  EXPECT_EQ(gs.stats().buckets_launched, 4u);
}

TEST(GradSync, FinishCopiesBackAndZeroesUnusedParameters) {
  auto comm = makeLocalCommunicator();
  GradSync gs(*comm, {3, 2}, caps(8, 8));
  std::vector<float> a = {1, 2, 3}, b = {9, 9};
  gs.markReady(0, a.data());
  a = {0, 0, 0};
  float* grads[] = {a.data(), b.data()};
  gs.finish(grads);
  EXPECT_EQ(a, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(b, (std::vector<float>{0, 0}));  // never marked: a zero gradient
  EXPECT_EQ(gs.stats().steps, 1u);
  EXPECT_EQ(gs.stats().bytes_reduced, 5u * 4);
}

TEST(GradSync, MarkingTwiceInOneStepIsAnError) {
  auto comm = makeLocalCommunicator();
  GradSync gs(*comm, {3}, {});
  std::vector<float> a(3, 1.f);
  gs.markReady(0, a.data());
  EXPECT_THROW(gs.markReady(0, a.data()), CommError);
  EXPECT_THROW(gs.markReady(5, a.data()), CommError);
  gs.finish(nullptr);
  gs.markReady(0, a.data());  // a new step
}

TEST(GradSync, DisabledSyncDoesNothingUntilTheLastMicroStep) {
  RecordingComm comm;
  GradSync gs(comm, {4}, {});
  comm.launched.clear();
  std::vector<float> g(4, 2.f);
  gs.setSyncEnabled(false);
  gs.markReady(0, g.data());
  float* grads[] = {g.data()};
  gs.finish(grads);
  EXPECT_TRUE(comm.launched.empty());
  gs.setSyncEnabled(true);
  gs.markReady(0, g.data());  // not "twice": the disabled step recorded nothing
  gs.finish(grads);
  EXPECT_EQ(comm.launched.size(), 1u);
  EXPECT_EQ(gs.stats().steps, 1u);
}

TEST(GradSync, BucketViewsAvoidCopies) {
  auto comm = makeLocalCommunicator();
  GradSync gs(*comm, {5, 5}, caps(1024, 1024));
  float* v0 = gs.gradView(0);
  float* v1 = gs.gradView(1);
  EXPECT_EQ(v1 + 5, v0);  // reverse order inside the bucket
  std::iota(v0, v0 + 5, 1.f);
  gs.markReady(0, v0);
  float* grads[] = {v0, v1};
  gs.finish(grads);
  EXPECT_EQ(v0[4], 5.f);
}

TEST(GradSync, ManyThreadsMayMarkReady) {
  auto comm = makeLocalCommunicator();
  const size_t n = 64;
  std::vector<size_t> sizes(n, 100);
  GradSync gs(*comm, sizes, caps(1000, 2000));
  std::vector<std::vector<float>> g(n, std::vector<float>(100));
  for (size_t i = 0; i < n; ++i) std::fill(g[i].begin(), g[i].end(), static_cast<float>(i));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < n; i += 4) gs.markReady(i, g[i].data());
    });
  }
  for (auto& th : threads) th.join();
  std::vector<float*> ptrs;
  for (auto& v : g) {
    std::fill(v.begin(), v.end(), -1.f);
    ptrs.push_back(v.data());
  }
  gs.finish(ptrs.data());
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(g[i][99], static_cast<float>(i));
}

// Found by scripts/sanitize.sh address mpi (LeakSanitizer): when the layout check failed, the
// constructor threw after allocating the buckets, and a constructor that throws gets no
// destructor, so they leaked. This world of two disagrees with itself (the other rank's hash is
// 0); under ASan the test also checks that nothing leaks.
TEST(GradSync, RefusedLayoutFreesTheBuckets) {
  class DisagreeingComm final : public fakes::FakeComm {
   public:
    DisagreeingComm() : FakeComm(2, "disagreeing") {}

   protected:
    WorkPtr launch(const Collective& c) override {
      if (c.kind == CollectiveKind::kAllGather) {
        std::memmove(c.recv, c.send, c.count * 8);  // this rank's block; rank 1's stays 0
      }
      return std::make_shared<fakes::PendingWork>(true);
    }
  } comm;
  GradSyncOptions o;
  o.first_bucket_bytes = 64;
  o.bucket_cap_bytes = 256;
  try {
    GradSync sync(comm, {10, 100, 1000}, o);
    FAIL() << "a layout the other rank does not share was accepted";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("ranks [1] have a different parameter list"),
              std::string::npos)
        << e.what();
  }
}

// The exposed time comes from the clock's completed intervals, read when they are complete (at a
// later finish() or stats()), never by waiting for them: a device clock's events lag the host.
TEST(GradSync, ExposedTimeCountsIntervalsOnceTheyComplete) {
  struct FakeClock final : IntervalClock {
    void begin() override { ++begun; }
    void end() override { ended.push_back(0.25 * static_cast<double>(ended.size() + 1)); }
    std::vector<double> collect() override {
      std::vector<double> out;
      for (; read < ended.size() && read < complete; ++read) out.push_back(ended[read]);
      return out;
    }
    int begun = 0;
    std::vector<double> ended;  // 0.25, 0.5, 0.75 ... s
    size_t read = 0, complete = 0;
  };
  auto clock = std::make_shared<FakeClock>();
  auto comm = makeLocalCommunicator();
  GradSyncOptions o = caps(1024, 1024);
  o.exposed_clock = clock;
  GradSync gs(*comm, {3}, o);
  gs.finish(nullptr);
  EXPECT_EQ(clock->begun, 1);
  EXPECT_EQ(gs.stats().exposed_seconds, 0.0);  // not complete yet: nothing counted, no wait
  clock->complete = 1;
  EXPECT_EQ(gs.stats().exposed_seconds, 0.25);
  EXPECT_EQ(gs.stats().exposed_seconds, 0.25);  // counted once
  gs.finish(nullptr);
  gs.finish(nullptr);
  clock->complete = 2;
  EXPECT_EQ(gs.stats().exposed_seconds, 0.75);
  EXPECT_EQ(gs.stats().last_exposed_seconds, 0.5);
  clock->complete = 3;
  gs.finish(nullptr);  // a later finish() collects what completed meanwhile
  const GradSyncStats s = gs.stats();
  EXPECT_EQ(s.steps, 4u);
  EXPECT_EQ(s.exposed_seconds, 1.5);
  EXPECT_EQ(s.last_exposed_seconds, 0.75);
}
