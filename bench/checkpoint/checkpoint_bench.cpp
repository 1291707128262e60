// checkpoint_bench: one sharded save through the real commit protocol, synchronous and
// asynchronous, timed on the training thread. bench/checkpoint/run.sh runs it (one rank and under
// mpirun) interleaved with dd baselines and makes the tables.
//
//   [mpirun -np P] checkpoint_bench --dir DIR [--bytes N] [--cols 512] [--step-ms 10]
//
// The class-weight matrix (--bytes in total, float32, --cols wide) is split with shardRange; each
// rank writes its rows as one row file. Prints one JSON object (rank 0):
//   sync_seconds        ShardedCheckpointWriter: begin, writeRowFile, commit (fsync, xxh64,
//                       agreement, manifest, rename, LATEST), slowest rank
//   async_*             AsyncCheckpointer while a simulated training loop runs (each step sleeps
//                       --step-ms, like a host thread waiting for a GPU, all-reduces a 256 KiB
//                       gradient, then polls):
//                       begin_seconds, poll_seconds (all polls), max_poll_seconds, stall_seconds
//                       (begin + polls: what the training thread lost), steps (steps that ran
//                       while the save was written), total_seconds (begin to commit)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "l2face/checkpoint/async.h"
#include "l2face/checkpoint/collective.h"
#include "l2face/checkpoint/rows.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/comm/run_context.h"

namespace fs = std::filesystem;
using namespace l2face;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double maxOverRanks(comm::Communicator& c, double v) {
  c.allReduce(&v, 1, comm::DType::kFloat64, comm::ReduceOp::kMax);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  uint64_t bytes = uint64_t{1} << 30;
  int64_t cols = 512;
  int step_ms = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--dir")
      dir = argv[i + 1];
    else if (k == "--bytes")
      bytes = std::stoull(argv[i + 1]);
    else if (k == "--cols")
      cols = std::stoll(argv[i + 1]);
    else if (k == "--step-ms")
      step_ms = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr,
                 "usage: checkpoint_bench --dir DIR [--bytes N] [--cols C] [--step-ms MS]\n");
    return 2;
  }
  std::optional<comm::MpiSession> mpi;
  if (comm::launchedUnderMpi()) mpi.emplace(&argc, &argv);
  comm::CommOptions o;
  o.backend = mpi ? comm::Backend::kMpi : comm::Backend::kLocal;
  auto c = comm::makeCommunicator(o, comm::runContextFromEnvironment());

  const int64_t rows = static_cast<int64_t>(bytes / (static_cast<uint64_t>(cols) * 4));
  const checkpoint::RowRange mine = checkpoint::shardRange(rows, c->size(), c->rank());
  auto data = std::make_shared<std::vector<float>>(static_cast<size_t>(mine.size() * cols));
  for (size_t i = 0; i < data->size(); ++i) (*data)[i] = static_cast<float>(i % 9973) * 0.001f;
  const std::string file = checkpoint::shardFileName("classifier", c->rank());
  const fs::path run = fs::path(dir) / "run";
  std::error_code ec;
  if (c->rank() == 0) fs::remove_all(run, ec);
  c->barrier();
  checkpoint::CommitOptions commit;
  commit.retention = checkpoint::Retention{1, 0};
  commit.faults = checkpoint::FaultPlan{};

  // Synchronous: everything on the calling thread.
  c->barrier();
  auto t0 = Clock::now();
  {
    checkpoint::ShardedCheckpointWriter w(*c, run, 1, commit);
    checkpoint::writeRowFile(w.path(file), data->data(), mine.size(), cols, mine.begin);
    w.commit({});
  }
  const double sync_seconds = maxOverRanks(*c, since(t0));

  // Asynchronous: a training loop that sleeps step_ms per step and polls at each boundary.
  checkpoint::AsyncCheckpointOptions ao;
  ao.commit = commit;
  auto ck_owner = std::make_unique<checkpoint::AsyncCheckpointer>(run, ao);
  checkpoint::AsyncCheckpointer& ck = *ck_owner;
  c->barrier();
  t0 = Clock::now();
  std::vector<checkpoint::FileJob> jobs;
  jobs.push_back({file, [data, mine, cols](const fs::path& f) {
                    checkpoint::writeRowFile(f, data->data(), mine.size(), cols, mine.begin);
                  }});
  ck.begin(*c, 2, std::move(jobs), {});
  const double begin_seconds = since(t0);
  double poll_seconds = 0, max_poll = 0;
  int steps = 0;
  checkpoint::SaveOutcome out;
  std::vector<float> grad(1 << 16, 1.0f);
  for (;;) {
    // The step: compute (a sleep, like a host thread waiting for its GPU), then the gradient
    // all-reduce that synchronises the ranks in data-parallel training (not counted as stall).
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    c->allReduce(grad.data(), grad.size(), comm::DType::kFloat32, comm::ReduceOp::kAvg);
    auto p0 = Clock::now();
    out = ck.poll(*c);
    const double p = since(p0);
    poll_seconds += p;
    max_poll = std::max(max_poll, p);
    if (!out.pending()) break;
    ++steps;
  }
  const double total = since(t0);
  ck_owner.reset();  // joins the background thread after its retention deletions
  if (!out.committed()) {
    std::fprintf(stderr, "async save failed: %s\n", out.error.c_str());
    return 1;
  }
  nlohmann::json j = {{"ranks", c->size()},
                      {"bytes", bytes},
                      {"cols", cols},
                      {"step_ms", step_ms},
                      {"sync_seconds", sync_seconds},
                      {"async_begin_seconds", maxOverRanks(*c, begin_seconds)},
                      {"async_poll_seconds", maxOverRanks(*c, poll_seconds)},
                      {"async_max_poll_seconds", maxOverRanks(*c, max_poll)},
                      {"async_stall_seconds", maxOverRanks(*c, begin_seconds + poll_seconds)},
                      {"async_steps", steps},
                      {"async_write_seconds", maxOverRanks(*c, out.write_seconds)},
                      {"async_commit_seconds", maxOverRanks(*c, out.commit_seconds)},
                      {"async_total_seconds", maxOverRanks(*c, total)}};
  if (c->rank() == 0) {
    std::printf("%s\n", j.dump().c_str());
    fs::remove_all(run, ec);
  }
  return 0;
}
