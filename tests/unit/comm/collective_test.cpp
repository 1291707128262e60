// Tests of the collective front door: the kind table, description checks, and the host-staging
// decorator around a backend's launch.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "fake_comm.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/internal/staging.h"

using namespace l2face::comm;

TEST(Collective, TableGivesNamesAndBufferSizes) {
  float x[8] = {};
  EXPECT_STREQ(Collective::allReduce(x, 8, DType::kFloat32, ReduceOp::kSum).name(), "allreduce");
  EXPECT_STREQ(collectiveName(CollectiveKind::kReduceScatter), "reducescatter");
  Collective ag = Collective::allGather(x, x, 2, DType::kFloat64);
  EXPECT_EQ(ag.sendBytes(4), 16u);
  EXPECT_EQ(ag.recvBytes(4), 64u);
  Collective rs = Collective::reduceScatter(x, x, 2, DType::kInt32, ReduceOp::kMax);
  EXPECT_EQ(rs.sendBytes(4), 32u);
  EXPECT_EQ(rs.recvBytes(4), 8u);
  EXPECT_EQ(Collective::barrier().recvBytes(4), 0u);
  Collective ar = Collective::allReduce(x, 3, DType::kUInt8, ReduceOp::kSum);
  EXPECT_EQ(ar.send, ar.recv);
  EXPECT_EQ(ar.recvBytes(4), 3u);
  EXPECT_THROW(collectiveTraits(static_cast<CollectiveKind>(0)), CommError);
  EXPECT_THROW(collectiveTraits(static_cast<CollectiveKind>(6)), CommError);
}

TEST(Collective, CheckRefusesARootOutsideTheWorld) {
  float x = 0;
  checkCollective(Collective::broadcast(&x, 1, DType::kFloat32, 3), 4);
  try {
    checkCollective(Collective::broadcast(&x, 1, DType::kFloat32, 4), 4);
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    EXPECT_STREQ(e.what(), "broadcast: root 4 outside a world of 4");
  }
  EXPECT_THROW(checkCollective(Collective::broadcast(&x, 1, DType::kFloat32, -1), 4), CommError);
}

namespace {

// A world of two whose "other rank" holds 10 + i at element i: all-reduce sums into recv; the
// buffers it sees are recorded, and its works complete only when waited on.
class TwoRankFake final : public fakes::FakeComm {
 public:
  TwoRankFake() : FakeComm(2, "fake") {}
  std::vector<const void*> seen;

 protected:
  WorkPtr launch(const Collective& c) override {
    ++seq;
    seen.push_back(c.recv);
    if (c.kind == CollectiveKind::kAllReduce) {
      float* v = static_cast<float*>(c.recv);
      for (size_t i = 0; i < c.count; ++i) v[i] += 10.f + static_cast<float>(i);
    } else if (c.kind == CollectiveKind::kAllGather) {
      std::memcpy(c.recv, c.send, c.sendBytes(2));
      float* other = static_cast<float*>(c.recv) + c.count;
      for (size_t i = 0; i < c.count; ++i) other[i] = 10.f + static_cast<float>(i);
    }
    return std::make_shared<fakes::PendingWork>();
  }
};

}  // namespace

TEST(Staging, CopiesInAtIssueAndBackAtWait) {
  TwoRankFake inner;
  StagingOptions o;
  o.memory = makeHostStagingMemory();
  o.needs_staging = [](const void*) { return true; };
  o.backend_suffix = " (staged)";
  StagingCommunicator staged(inner, nullptr, std::move(o));
  EXPECT_EQ(staged.backend(), "fake (staged)");
  std::vector<float> x = {1, 2, 3};
  WorkPtr w = staged.allReduceAsync(x.data(), 3, DType::kFloat32, ReduceOp::kSum);
  ASSERT_EQ(inner.seen.size(), 1u);
  EXPECT_NE(inner.seen[0], x.data());           // the backend ran on a staging buffer
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3}));  // not yet copied back
  EXPECT_FALSE(w->done());
  w->wait();
  EXPECT_EQ(x, (std::vector<float>{11, 13, 15}));
  EXPECT_EQ(staged.sequence(), 1u);

  std::vector<float> mine = {7, 8}, all(4);
  staged.allGather(mine.data(), all.data(), 2, DType::kFloat32);
  EXPECT_EQ(all, (std::vector<float>{7, 8, 10, 11}));
  EXPECT_THROW(staged.broadcast(x.data(), 3, DType::kFloat32, 2), CommError);
  EXPECT_EQ(inner.seq, 2u);  // refused before reaching the backend
}

TEST(Staging, PassesUnstagedBuffersThrough) {
  TwoRankFake inner;
  StagingOptions o;
  o.memory = makeHostStagingMemory();
  o.needs_staging = [](const void*) { return false; };
  StagingCommunicator passthrough(inner, nullptr, o);
  std::vector<float> x = {1, 2};
  passthrough.allReduceAsync(x.data(), 2, DType::kFloat32, ReduceOp::kSum)->wait();
  EXPECT_EQ(inner.seen.back(), x.data());
  EXPECT_EQ(x, (std::vector<float>{11, 13}));
}

// A buffer staged again keeps one staging buffer (the backend sees the same address), while it
// is not in use by a collective still in flight.
TEST(Staging, ARepeatedBufferKeepsItsStagingBuffer) {
  TwoRankFake inner;
  StagingOptions o;
  o.memory = makeHostStagingMemory();
  o.needs_staging = [](const void*) { return true; };
  StagingCommunicator staged(inner, nullptr, o);
  std::vector<float> x = {1, 2};
  for (int i = 0; i < 4; ++i) staged.allReduce(x.data(), 2, DType::kFloat32, ReduceOp::kSum);
  EXPECT_EQ(x, (std::vector<float>{41, 46}));
  ASSERT_EQ(inner.seen.size(), 4u);
  EXPECT_EQ(inner.seen[1], inner.seen[2]);  // kept from the second time on
  EXPECT_EQ(inner.seen[2], inner.seen[3]);
  WorkPtr a = staged.allReduceAsync(x.data(), 2, DType::kFloat32, ReduceOp::kSum);
  WorkPtr b = staged.allReduceAsync(x.data(), 2, DType::kFloat32, ReduceOp::kSum);
  EXPECT_EQ(inner.seen[4], inner.seen[1]);
  EXPECT_NE(inner.seen[5], inner.seen[4]);  // the kept one is busy
  a->wait();
  b->wait();
}
