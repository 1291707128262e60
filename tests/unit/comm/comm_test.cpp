// Tests of the local communicator and the run context read from launcher variables.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "l2face/comm/communicator.h"
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
  EXPECT_THROW(c->broadcast(x.data(), 3, DType::kFloat32, 1), CommError);
}

TEST(RunContext, ReadsOpenMpiVariables) {
  setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  RunContext ctx = runContextFromEnvironment();
  EXPECT_EQ(ctx.rank, 2);
  EXPECT_EQ(ctx.world_size, 4);
  EXPECT_EQ(ctx.local_rank, 0);
  EXPECT_FALSE(ctx.isLeader());
  setenv("OMPI_COMM_WORLD_RANK", "x", 1);
  EXPECT_THROW(runContextFromEnvironment(), CommError);
  setenv("OMPI_COMM_WORLD_RANK", "4", 1);
  EXPECT_THROW(runContextFromEnvironment(), CommError);
  unsetenv("OMPI_COMM_WORLD_RANK");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  ctx = runContextFromEnvironment();
  EXPECT_EQ(ctx.world_size, 1);
  EXPECT_TRUE(ctx.isLeader());
}
