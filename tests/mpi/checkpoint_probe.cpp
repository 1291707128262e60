// A sharded save driven from outside, for the crash tests (expect_checkpoint_crash.cmake):
//
//   checkpoint_probe save RUN_DIR STEP          under mpirun: one collective save of STEP (every
//                                               rank a class shard, rank 0 backbone.pt); the faults
//                                               come from L2FACE_FAULT; exit 0 once committed
//   checkpoint_probe check RUN_DIR STEP ENTRIES one process: openCheckpoint(RUN_DIR) must give STEP
//                                               and checkpoints/ must hold exactly ENTRIES (comma-
//                                               separated, sorted), e.g. LATEST,step_1,step_2.tmp
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "l2face/checkpoint/collective.h"
#include "l2face/checkpoint/rows.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/comm/run_context.h"

namespace fs = std::filesystem;
using namespace l2face;

namespace {

int save(const fs::path& run, int64_t step) {
  std::optional<comm::MpiSession> mpi;
  if (comm::launchedUnderMpi()) mpi.emplace(nullptr, nullptr);
  comm::CommOptions o;
  o.backend = mpi ? comm::Backend::kMpi : comm::Backend::kLocal;
  o.timeout_seconds = 30;
  auto c = comm::makeCommunicator(o, comm::runContextFromEnvironment());
  const int64_t classes = 7, dim = 3;
  checkpoint::ShardedCheckpointWriter w(*c, run, step);  // faults from L2FACE_FAULT
  const checkpoint::RowRange mine = checkpoint::shardRange(classes, c->size(), c->rank());
  std::vector<float> rows(static_cast<size_t>(mine.size() * dim), static_cast<float>(step));
  checkpoint::writeRowFile(w.path(checkpoint::shardFileName("classifier", c->rank())), rows.data(),
                           mine.size(), dim, mine.begin);
  if (c->rank() == 0) std::ofstream(w.path("backbone.pt")) << "step " << step;
  fs::path dir = w.commit({{"classifier", checkpoint::shardTableJson(checkpoint::balancedShardTable(
                                              "classifier", classes, c->size()))}});
  if (c->rank() == 0) std::printf("committed %s\n", dir.string().c_str());
  return 0;
}

int check(const fs::path& run, int64_t step, const std::string& entries) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(run / "checkpoints")) {
    found.push_back(e.path().filename().string());
  }
  std::sort(found.begin(), found.end());
  std::string joined;
  for (const auto& f : found) joined += (joined.empty() ? "" : ",") + f;
  int rc = 0;
  if (joined != entries) {
    std::fprintf(stderr, "checkpoints/ holds %s, expected %s\n", joined.c_str(), entries.c_str());
    rc = 1;
  }
  checkpoint::LoadedCheckpoint c = checkpoint::openCheckpoint(run);
  if (c.manifest.step != step) {
    std::fprintf(stderr, "openCheckpoint gave step %lld, expected %lld\n",
                 static_cast<long long>(c.manifest.step), static_cast<long long>(step));
    rc = 1;
  }
  if (rc == 0) std::printf("ok: step %lld, %s\n", static_cast<long long>(step), joined.c_str());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "save" && argc == 4) return save(argv[2], std::stoll(argv[3]));
    if (mode == "check" && argc == 5) return check(argv[2], std::stoll(argv[3]), argv[4]);
    std::fprintf(stderr,
                 "usage: checkpoint_probe save RUN_DIR STEP | check RUN_DIR STEP ENTRIES\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_probe: %s\n", e.what());
    return 1;
  }
}
