// Tests of the local communicator, the factory's choices, error messages and the run context.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "l2face/comm/communicator.h"
#include "l2face/comm/internal/reduce_kernels.h"
#include "l2face/comm/internal/watchdog.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/comm/run_context.h"

using namespace l2face::comm;

TEST(Local, CollectivesAreIdentityInAWorldOfOne) {
  auto c = makeLocalCommunicator();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  std::vector<float> x = {1.5f, -2.f, 3.f};
  c->allReduce(x.data(), x.size(), DType::kFloat32, ReduceOp::kAvg);
  EXPECT_EQ(x, (std::vector<float>{1.5f, -2.f, 3.f}));
  std::vector<float> g(3);
  c->allGather(x.data(), g.data(), 3, DType::kFloat32);
  EXPECT_EQ(g, x);
  std::vector<float> rs(3);
  c->reduceScatter(x.data(), rs.data(), 3, DType::kFloat32, ReduceOp::kSum);
  EXPECT_EQ(rs, x);
  EXPECT_THROW(c->broadcast(x.data(), 3, DType::kFloat32, 1), CommError);
}

TEST(Local, AsyncWorkIsDoneAndSequenceCounts) {
  auto c = makeLocalCommunicator();
  EXPECT_EQ(c->sequence(), 0u);
  int32_t v = 7;
  WorkPtr w = c->allReduceAsync(&v, 1, DType::kInt32, ReduceOp::kMax);
  EXPECT_TRUE(w->done());
  w->wait();
  c->barrier();
  EXPECT_EQ(c->sequence(), 2u);
  EXPECT_EQ(v, 7);
}

TEST(Factory, AutoPicksLocalForAWorldOfOneAndRefusesImpossibleChoices) {
  RunContext one;
  CommOptions o;
  auto c = makeCommunicator(o, one);
  EXPECT_EQ(c->backend(), "local");
  RunContext two;
  two.world_size = 2;
  o.backend = Backend::kLocal;
  EXPECT_THROW(makeCommunicator(o, two), CommError);
  // No MpiSession in this process: the mpi backend cannot start.
  o.backend = Backend::kMpi;
  EXPECT_THROW(makeCommunicator(o, one), CommError);
  o.backend = Backend::kLocal;
  o.timeout_seconds = 0;
  EXPECT_THROW(makeCommunicator(o, one), CommError);
}

TEST(Options, BackendNamesRoundTrip) {
  for (Backend b : {Backend::kAuto, Backend::kLocal, Backend::kMpi, Backend::kNccl}) {
    EXPECT_EQ(backendFromName(backendName(b)), b);
  }
  try {
    backendFromName("gloo");
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("choose auto, local, mpi or nccl"), std::string::npos);
  }
}

TEST(CommError, NamesOpSequenceRankAndHost) {
  CommError e("peer vanished", "allreduce", 12, 3, "node7");
  EXPECT_STREQ(e.what(), "rank 3 (node7): allreduce #12: peer vanished");
  EXPECT_EQ(e.op(), "allreduce");
  EXPECT_EQ(e.sequence(), 12u);
  EXPECT_EQ(e.rank(), 3);
  EXPECT_EQ(e.host(), "node7");
}

TEST(Watchdog, ReportListsRanksThatDidNotArrive) {
  std::vector<Arrival> a = {{0, 7, 1, true}, {1, 6, 1, true}, {2, 7, 1, true}, {3, 0, 0, false}};
  std::string m = formatTimeoutMessage(0, "h0", CollectiveKind::kAllReduce, 7, 2, a);
  EXPECT_EQ(m,
            "[l2face] rank 0 (h0): collective allreduce #7 did not complete within 2 s; ranks "
            "that did not arrive: [1, 3]; not responding (outside MPI): [3]");
  EXPECT_EQ(ranksNotArrived(7, a), (std::vector<int>{1, 3}));
  EXPECT_EQ(formatTimeoutMessage(1, "h", CollectiveKind::kBarrier, 2, 600, {}),
            "[l2face] rank 1 (h): collective barrier #2 did not complete within 600 s; ranks "
            "that did not arrive: unknown");
}

TEST(Watchdog, ReportNamesARankInADifferentCollective) {
  std::vector<Arrival> a = {{0, 4, static_cast<int>(CollectiveKind::kAllReduce), true},
                            {1, 4, static_cast<int>(CollectiveKind::kBroadcast), true}};
  std::string m = formatTimeoutMessage(0, "h", CollectiveKind::kAllReduce, 4, 1.5, a);
  EXPECT_NE(m.find("did not complete within 1.5 s; ranks that did not arrive: []"),
            std::string::npos);
  EXPECT_NE(m.find("ranks that entered a different collective as #4: 1 (broadcast)"),
            std::string::npos);
}

TEST(ReduceKernels, EveryOpAndDtype) {
  std::vector<int32_t> a = {1, -5, 9}, b = {4, 2, -9};
  auto x = a;
  reduceInto(x.data(), b.data(), 3, DType::kInt32, ReduceOp::kSum);
  EXPECT_EQ(x, (std::vector<int32_t>{5, -3, 0}));
  x = a;
  reduceInto(x.data(), b.data(), 3, DType::kInt32, ReduceOp::kMax);
  EXPECT_EQ(x, (std::vector<int32_t>{4, 2, 9}));
  x = a;
  reduceInto(x.data(), b.data(), 3, DType::kInt32, ReduceOp::kMin);
  EXPECT_EQ(x, (std::vector<int32_t>{1, -5, -9}));
  std::vector<double> d = {3, 6};
  finishAverage(d.data(), 2, DType::kFloat64, 3);
  EXPECT_DOUBLE_EQ(d[0], 1.0);
  EXPECT_DOUBLE_EQ(d[1], 2.0);
  std::vector<int64_t> i = {7, -7};
  finishAverage(i.data(), 2, DType::kInt64, 2);
  EXPECT_EQ(i, (std::vector<int64_t>{3, -3}));
  std::vector<uint8_t> u = {200, 3}, v = {100, 4};
  reduceInto(u.data(), v.data(), 2, DType::kUInt8, ReduceOp::kMin);
  EXPECT_EQ(u, (std::vector<uint8_t>{100, 3}));
}

TEST(MpiSession, NotActiveWithoutInitialisation) {
  EXPECT_FALSE(MpiSession::active());
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("PMIX_RANK");
  unsetenv("PMI_RANK");
  unsetenv("PMI_SIZE");
  EXPECT_FALSE(launchedUnderMpi());
  setenv("PMIX_RANK", "0", 1);
  EXPECT_TRUE(launchedUnderMpi());
  unsetenv("PMIX_RANK");
}

TEST(RunContext, ReadsOpenMpiVariables) {
  setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
  RunContext ctx = runContextFromEnvironment();
  EXPECT_EQ(ctx.rank, 2);
  EXPECT_EQ(ctx.world_size, 4);
  EXPECT_EQ(ctx.local_rank, 0);
  EXPECT_EQ(ctx.local_size, 2);
  EXPECT_EQ(ctx.source, "OMPI_COMM_WORLD_*");
  EXPECT_FALSE(ctx.isLeader());
  setenv("OMPI_COMM_WORLD_RANK", "x", 1);
  EXPECT_THROW(runContextFromEnvironment(), CommError);
  setenv("OMPI_COMM_WORLD_RANK", "4", 1);
  EXPECT_THROW(runContextFromEnvironment(), CommError);
  unsetenv("OMPI_COMM_WORLD_RANK");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  ctx = runContextFromEnvironment();
  EXPECT_EQ(ctx.world_size, 1);
  EXPECT_TRUE(ctx.isLeader());
}
