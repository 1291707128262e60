// Tests of rank discovery: each launcher's variables, their precedence, SLURM's task lists, MPI's
// word over stale exports, the local size every mode yields, and the GPU choice.
#include "l2face/comm/run_context.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "l2face/comm/communicator.h"
#include "l2face/comm/errors.h"
#include "l2face/comm/internal/cuda_util.h"
#include "l2face/comm/runtime_info.h"

using namespace l2face::comm;

namespace {

using Vars = std::map<std::string, std::string>;

RunContext fromVars(const Vars& vars, const MpiGeometry* mpi = nullptr) {
  return runContextFromVariables(
      [&vars](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      mpi);
}

// What `srun --ntasks-per-node=4 -N 3` gives task 6 (node 1, local 2), as seen in a real step.
Vars slurmStepTask6() {
  return {{"SLURM_STEP_ID", "0"},
          {"SLURM_PROCID", "6"},
          {"SLURM_STEP_NUM_TASKS", "12"},
          {"SLURM_NTASKS", "12"},
          {"SLURM_LOCALID", "2"},
          {"SLURM_NODEID", "1"},
          {"SLURM_STEP_TASKS_PER_NODE", "4(x3)"},
          {"SLURM_TASKS_PER_NODE", "4(x3)"},
          {"PMIX_RANK", "6"}};
}

}  // namespace

TEST(RunContext, NoVariablesIsAWorldOfOne) {
  RunContext c = fromVars({});
  EXPECT_EQ(c.rank, 0);
  EXPECT_EQ(c.world_size, 1);
  EXPECT_EQ(c.local_rank, 0);
  EXPECT_EQ(c.local_size, 1);
  EXPECT_EQ(c.gpu, 0);
  EXPECT_FALSE(c.gpu_overridden);
  EXPECT_EQ(c.source, "default (one process)");
}

TEST(RunContext, OpenMpiVariablesGiveRankWorldAndLocalGeometry) {
  RunContext c = fromVars({{"OMPI_COMM_WORLD_RANK", "5"},
                           {"OMPI_COMM_WORLD_SIZE", "8"},
                           {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                           {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
  EXPECT_EQ(c.rank, 5);
  EXPECT_EQ(c.world_size, 8);
  EXPECT_EQ(c.local_rank, 1);
  EXPECT_EQ(c.local_size, 4);
  EXPECT_EQ(c.gpu, 1);
  EXPECT_EQ(c.source, "OMPI_COMM_WORLD_*");
  EXPECT_EQ(c.local_source, "OMPI_COMM_WORLD_LOCAL_*");
}

TEST(RunContext, SlurmStepGivesLocalSizeOfThisNodeNotTheWorld) {
  RunContext c = fromVars(slurmStepTask6());
  EXPECT_EQ(c.rank, 6);
  EXPECT_EQ(c.world_size, 12);
  EXPECT_EQ(c.local_rank, 2);
  EXPECT_EQ(c.local_size, 4);  // the old rule (world size) would divide the cores by 12
  EXPECT_EQ(c.source, "SLURM_*");
  EXPECT_EQ(c.local_source, "SLURM_LOCALID");
}

TEST(RunContext, SlurmUnevenNodesUseThisNodesCount) {
  Vars v = {{"SLURM_STEP_ID", "3"},        {"SLURM_PROCID", "6"},
            {"SLURM_STEP_NUM_TASKS", "7"}, {"SLURM_LOCALID", "0"},
            {"SLURM_NODEID", "2"},         {"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}};
  RunContext c = fromVars(v);
  EXPECT_EQ(c.world_size, 7);
  EXPECT_EQ(c.local_size, 1);
  // Without the step's list, the job's uniform count, then the job's list.
  v.erase("SLURM_STEP_TASKS_PER_NODE");
  v["SLURM_TASKS_PER_NODE"] = "3(x2),1";
  EXPECT_EQ(fromVars(v).local_size, 1);
  v["SLURM_NTASKS_PER_NODE"] = "3";
  v["SLURM_NODEID"] = "0";
  v["SLURM_PROCID"] = "1";
  v["SLURM_LOCALID"] = "1";
  EXPECT_EQ(fromVars(v).local_size, 3);
}

TEST(RunContext, SlurmBatchScriptIsNotARankOfTheJob) {
  // The batch shell has SLURM_PROCID=0 and SLURM_NTASKS but no SLURM_STEP_ID: running l2face
  // there directly (without srun) is one process, not rank 0 of a world nobody else joins.
  RunContext c = fromVars({{"SLURM_PROCID", "0"},
                           {"SLURM_NTASKS", "2"},
                           {"SLURM_LOCALID", "0"},
                           {"SLURM_NODEID", "0"},
                           {"SLURM_NTASKS_PER_NODE", "2"},
                           {"SLURM_TASKS_PER_NODE", "2"},
                           {"SLURM_JOB_ID", "7"}});
  EXPECT_EQ(c.world_size, 1);
  EXPECT_EQ(c.local_size, 1);
  EXPECT_EQ(c.source, "default (one process)");
}

TEST(RunContext, SlurmStepFallsBackToNtasksForTheWorld) {
  RunContext c = fromVars({{"SLURM_STEP_ID", "0"},
                           {"SLURM_PROCID", "1"},
                           {"SLURM_NTASKS", "2"},
                           {"SLURM_LOCALID", "1"},
                           {"SLURM_NODEID", "0"},
                           {"SLURM_NTASKS_PER_NODE", "2"}});
  EXPECT_EQ(c.world_size, 2);
  EXPECT_EQ(c.local_rank, 1);
  EXPECT_EQ(c.local_size, 2);
}

TEST(RunContext, L2faceVariablesComeFirstWithoutMpi) {
  Vars v = slurmStepTask6();
  v["L2FACE_RANK"] = "3";
  v["L2FACE_WORLD_SIZE"] = "4";
  v["L2FACE_LOCAL_RANK"] = "1";
  v["L2FACE_LOCAL_SIZE"] = "2";
  RunContext c = fromVars(v);
  EXPECT_EQ(c.rank, 3);
  EXPECT_EQ(c.world_size, 4);
  EXPECT_EQ(c.local_rank, 1);
  EXPECT_EQ(c.local_size, 2);
  EXPECT_EQ(c.source, "L2FACE_*");
  EXPECT_EQ(c.local_source, "L2FACE_LOCAL_*");
}

TEST(RunContext, L2faceWithoutLocalVariablesAssumesOneHost) {
  RunContext c = fromVars({{"L2FACE_RANK", "2"}, {"L2FACE_WORLD_SIZE", "3"}});
  EXPECT_EQ(c.local_rank, 2);
  EXPECT_EQ(c.local_size, 3);
  EXPECT_EQ(c.local_source, "assumed (all ranks on one host)");
}

TEST(RunContext, HalfAPairIsAnError) {
  EXPECT_THROW(fromVars({{"L2FACE_RANK", "0"}}), CommError);
  EXPECT_THROW(
      fromVars({{"L2FACE_RANK", "0"}, {"L2FACE_WORLD_SIZE", "2"}, {"L2FACE_LOCAL_RANK", "0"}}),
      CommError);
  try {
    fromVars({{"L2FACE_WORLD_SIZE", "2"}});
    FAIL() << "no error";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("L2FACE_RANK"), std::string::npos) << e.what();
  }
}

TEST(RunContext, InconsistentValuesAreErrors) {
  EXPECT_THROW(fromVars({{"L2FACE_RANK", "4"}, {"L2FACE_WORLD_SIZE", "4"}}), CommError);
  EXPECT_THROW(fromVars({{"L2FACE_RANK", "0"}, {"L2FACE_WORLD_SIZE", "0"}}), CommError);
  EXPECT_THROW(fromVars({{"L2FACE_RANK", "1"},
                         {"L2FACE_WORLD_SIZE", "4"},
                         {"L2FACE_LOCAL_RANK", "2"},
                         {"L2FACE_LOCAL_SIZE", "2"}}),
               CommError);
  EXPECT_THROW(fromVars({{"L2FACE_RANK", "1"},
                         {"L2FACE_WORLD_SIZE", "2"},
                         {"L2FACE_LOCAL_RANK", "0"},
                         {"L2FACE_LOCAL_SIZE", "3"}}),
               CommError);
  EXPECT_THROW(fromVars({{"OMPI_COMM_WORLD_RANK", "-1"}, {"OMPI_COMM_WORLD_SIZE", "2"}}),
               CommError);
  EXPECT_THROW(fromVars({{"L2FACE_GPU", "one"}}), CommError);
}

TEST(RunContext, MpiIsAuthoritativeAndStaleExportsAreCaught) {
  MpiGeometry mpi{3, 4, -1, -1};
  // mpirun's own variables agree with MPI; local geometry comes from them.
  RunContext c = fromVars({{"OMPI_COMM_WORLD_RANK", "3"},
                           {"OMPI_COMM_WORLD_SIZE", "4"},
                           {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                           {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}},
                          &mpi);
  EXPECT_EQ(c.rank, 3);
  EXPECT_EQ(c.world_size, 4);
  EXPECT_EQ(c.local_rank, 1);
  EXPECT_EQ(c.source, "mpi");
  // An L2FACE_RANK exported into every rank (say, by a wrapper) must not win over MPI.
  EXPECT_THROW(fromVars({{"L2FACE_RANK", "0"}, {"L2FACE_WORLD_SIZE", "4"}}, &mpi), CommError);
  EXPECT_NO_THROW(fromVars({{"L2FACE_RANK", "3"}, {"L2FACE_WORLD_SIZE", "4"}}, &mpi));
}

TEST(RunContext, MpiSharedMemorySplitWhenNoVariableGivesTheLocalRank) {
  MpiGeometry mpi{5, 6, 2, 3};
  RunContext c = fromVars({{"PMIX_RANK", "5"}}, &mpi);
  EXPECT_EQ(c.local_rank, 2);
  EXPECT_EQ(c.local_size, 3);
  EXPECT_EQ(c.local_source, "mpi (shared-memory split)");
}

TEST(RunContext, PmixRankWithoutMpiNeedsAWorldSize) {
  EXPECT_THROW(fromVars({{"PMIX_RANK", "1"}}), CommError);
  RunContext c = fromVars({{"PMIX_RANK", "1"}, {"SLURM_NTASKS", "2"}});
  EXPECT_EQ(c.rank, 1);
  EXPECT_EQ(c.world_size, 2);
  EXPECT_EQ(c.source, "PMIX_RANK");
}

TEST(RunContext, GpuIsTheLocalRankUnlessOverridden) {
  Vars v = slurmStepTask6();
  RunContext c = fromVars(v);
  EXPECT_EQ(c.gpu, 2);
  EXPECT_EQ(cudaDeviceForRank(c, 8), 2);
  EXPECT_EQ(cudaDeviceForRank(c, 2), 0);  // more ranks than devices: modulo
  EXPECT_EQ(cudaDeviceForRank(c, 0), -1);
  v["L2FACE_GPU"] = "0";  // e.g. each rank sees only its own device (CUDA_VISIBLE_DEVICES)
  c = fromVars(v);
  EXPECT_TRUE(c.gpu_overridden);
  EXPECT_EQ(c.gpu, 0);
  EXPECT_EQ(cudaDeviceForRank(c, 1), 0);
  v["L2FACE_GPU"] = "3";
  c = fromVars(v);
  EXPECT_EQ(cudaDeviceForRank(c, 4), 3);
  EXPECT_THROW(cudaDeviceForRank(c, 2), CommError);
}

TEST(RunContext, SlurmTaskListsParse) {
  EXPECT_EQ(slurmTasksOnNode("4", 0), 4);
  EXPECT_EQ(slurmTasksOnNode("4", 1), -1);
  EXPECT_EQ(slurmTasksOnNode("2(x3),1", 0), 2);
  EXPECT_EQ(slurmTasksOnNode("2(x3),1", 2), 2);
  EXPECT_EQ(slurmTasksOnNode("2(x3),1", 3), 1);
  EXPECT_EQ(slurmTasksOnNode("2(x3),1", 4), -1);
  EXPECT_EQ(slurmTasksOnNode("1,8(x2)", 2), 8);
  EXPECT_EQ(slurmTasksOnNode("2(x3", 0), -1);
  EXPECT_EQ(slurmTasksOnNode("a", 0), -1);
  EXPECT_EQ(slurmTasksOnNode("2(y3)", 0), -1);
  EXPECT_EQ(slurmTasksOnNode("", 0), -1);
  EXPECT_EQ(slurmTasksOnNode("4", -1), -1);
}

TEST(RunContext, BackendChoiceIsReportedWithoutBuildingIt) {
  CommOptions o;
  RunContext one;
  EXPECT_EQ(resolveBackend(o, one), Backend::kLocal);
  o.backend = Backend::kMpi;
  EXPECT_EQ(resolveBackend(o, one), Backend::kMpi);  // what was asked, even if it cannot start
  o.backend = Backend::kAuto;
  RunContext two = fromVars({{"L2FACE_RANK", "0"}, {"L2FACE_WORLD_SIZE", "2"}});
  if (cudaDeviceCountOrZero() > 0) {
    GTEST_SKIP() << "a CUDA device is visible: auto picks nccl";
  }
  // No MPI session and no GPU: auto has nothing for two ranks, and says how they were found.
  try {
    resolveBackend(o, two);
    FAIL() << "no error";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("L2FACE_*"), std::string::npos) << e.what();
  }
}

// A CPU run on a host with GPUs: auto must not hand host tensors to NCCL.
TEST(RunContext, AutoFollowsWhereTheTensorsLive) {
  struct FakeDevices {
    FakeDevices() { setVisibleCudaDevicesForTesting(2); }
    ~FakeDevices() { setVisibleCudaDevicesForTesting(-1); }
  } fake;
  CommOptions o;
  RunContext one;
  RunContext two = fromVars({{"L2FACE_RANK", "0"}, {"L2FACE_WORLD_SIZE", "2"}});
  o.tensors = TensorDevice::kCpu;
  EXPECT_EQ(resolveBackend(o, one), Backend::kLocal);
  // No MPI session here: a CPU run of two ranks has no backend (under mpirun it gets mpi,
  // tests/mpi/collectives_test.cpp).
  EXPECT_THROW(resolveBackend(o, two), CommError);
  const bool nccl = runtimeInfo().built_with_nccl;
  for (TensorDevice d : {TensorDevice::kCuda, TensorDevice::kUnspecified}) {
    o.tensors = d;
    EXPECT_EQ(resolveBackend(o, one), Backend::kLocal);
    if (nccl) {
      EXPECT_EQ(resolveBackend(o, two), Backend::kNccl);
    } else {
      EXPECT_THROW(resolveBackend(o, two), CommError);
    }
  }
}
