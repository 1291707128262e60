// The collective checkpoint protocol on several ranks: commit, failures on one rank, verification
// with fallback, asynchronous saves and the agreed save schedule.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "l2face/checkpoint/async.h"
#include "l2face/checkpoint/collective.h"
#include "l2face/checkpoint/rows.h"
#include "mpi_test_util.h"

namespace fs = std::filesystem;
using namespace l2face::checkpoint;
using namespace l2face::comm;
using namespace l2face::comm::testing;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kClasses = 11;  // not divisible by 2 or 3
constexpr int64_t kDim = 4;

// One fresh run directory for all ranks (named after rank 0's pid; the ranks share /tmp).
fs::path sharedRunDir(Communicator& c, const std::string& name) {
  int64_t pid = ::getpid();
  c.broadcast(&pid, 1, DType::kInt64, 0);
  fs::path d = fs::temp_directory_path() / ("l2face_ckpt_mpi_" + name + "_" + std::to_string(pid));
  if (c.rank() == 0) {
    fs::remove_all(d);
    fs::create_directories(d);
  }
  c.barrier();
  return d;
}

float weight(int64_t row, int64_t col) { return static_cast<float>(row * 100 + col) + 0.5f; }

std::vector<float> classRows(RowRange r) {
  std::vector<float> m;
  for (int64_t i = r.begin; i < r.end; ++i) {
    for (int64_t k = 0; k < kDim; ++k) m.push_back(weight(i, k));
  }
  return m;
}

CommitOptions noFaults() {
  CommitOptions o;
  o.faults = FaultPlan{};
  return o;
}

// A sharded save of `step`: every rank its class rows, rank 0 the replicated state too.
fs::path saveStep(Communicator& c, const fs::path& run, int64_t step,
                  CommitOptions o = noFaults()) {
  ShardedCheckpointWriter w(c, run, step, o);
  const RowRange mine = shardRange(kClasses, c.size(), c.rank());
  auto rows = classRows(mine);
  writeRowFile(w.path(shardFileName("classifier", c.rank())), rows.data(), mine.size(), kDim,
               mine.begin);
  if (c.rank() == 0) std::ofstream(w.path("backbone.pt")) << "backbone of step " << step;
  nlohmann::json meta = {
      {"epoch", 3},
      {"classifier", shardTableJson(balancedShardTable("classifier", kClasses, c.size()))}};
  return w.commit(meta);
}

uint64_t textHash(const std::string& s) { return fingerprint(s.data(), s.size()); }

// Every rank's text of a CheckpointError thrown by f (empty when none was thrown).
std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(CollectiveCheckpoint, CommitsEveryRanksFiles) {
  auto c = mpiCommunicator();
  fs::path run = sharedRunDir(*c, "commit");
  fs::path dir = saveStep(*c, run, 4);
  EXPECT_EQ(dir, run / "checkpoints" / "step_4");
  EXPECT_TRUE(sameOnEveryRank(*c, textHash(dir.string())));
  LoadedCheckpoint ck = openCheckpoint(run);
  EXPECT_EQ(ck.manifest.step, 4);
  EXPECT_EQ(ck.manifest.world_size, c->size());
  EXPECT_EQ(ck.manifest.files.size(), static_cast<size_t>(c->size()) + 1);
  EXPECT_EQ(ck.manifest.meta["epoch"], 3);
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_4.tmp"));
  // Every rank reads all classes back, and its share for one rank more (re-sharding).
  auto table = shardTableFromJson(ck.manifest.meta["classifier"], "test");
  std::vector<float> all(kClasses * kDim);
  readRowRange(ck.dir, table, 0, kClasses, kDim, RowDType::kFloat32, all.data());
  EXPECT_EQ(all, classRows({0, kClasses}));
  const RowRange next = shardRange(kClasses, c->size() + 1, c->rank());
  std::vector<float> part(static_cast<size_t>(next.size() * kDim));
  readRowRange(ck.dir, table, next.begin, next.end, kDim, RowDType::kFloat32, part.data());
  EXPECT_EQ(part, classRows(next));
}

TEST(CollectiveCheckpoint, OneRankFailingFailsEveryRankAndKeepsThePrevious) {
  auto c = mpiCommunicator();
  fs::path run = sharedRunDir(*c, "rank_fails");
  saveStep(*c, run, 1);
  const int culprit = c->size() - 1;
  std::string e = errorOf([&] {
    ShardedCheckpointWriter w(*c, run, 2, noFaults());
    std::ofstream(w.path(shardFileName("part", c->rank()))) << "x";
    if (c->rank() == culprit) w.fail("No space left on device (simulated)");
    w.commit({});
  });
  EXPECT_NE(e.find("checkpoint step 2 failed: rank " + std::to_string(culprit) +
                   ": No space left on device (simulated)"),
            std::string::npos)
      << e;
  EXPECT_TRUE(sameOnEveryRank(*c, textHash(e)));
  c->barrier();
  EXPECT_EQ(latestStep(run), 1);
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_2.tmp"));
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_2"));
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);
  // Saving works again afterwards.
  EXPECT_EQ(saveStep(*c, run, 3).filename(), "step_3");
}

TEST(CollectiveCheckpoint, InjectedWriteFailAndMissingFile) {
  auto c = mpiCommunicator();
  fs::path run = sharedRunDir(*c, "inject");
  saveStep(*c, run, 1);
  const int culprit = c->size() - 1;
  CommitOptions o;
  o.faults = FaultPlan::parse("checkpoint.write_fail@rank" + std::to_string(culprit));
  std::string e = errorOf([&] { saveStep(*c, run, 2, o); });
  EXPECT_NE(e.find("rank " + std::to_string(culprit) + ": injected fault checkpoint.write_fail"),
            std::string::npos)
      << e;
  // A file named with path() but never written: that rank's sealing fails.
  e = errorOf([&] {
    ShardedCheckpointWriter w(*c, run, 3, noFaults());
    std::ofstream(w.path(shardFileName("x", c->rank()))) << "x";
    if (c->rank() == culprit) w.path("never_written.bin");
    w.commit({});
  });
  EXPECT_NE(e.find("never_written.bin: cannot open to checksum"), std::string::npos) << e;
  EXPECT_TRUE(sameOnEveryRank(*c, textHash(e)));
  c->barrier();
  EXPECT_EQ(latestStep(run), 1);
  EXPECT_EQ(listCheckpoints(run).size(), 1u);
}

TEST(CollectiveCheckpoint, DuplicateFileNamesAreRefused) {
  auto c = mpiCommunicator();
  if (c->size() == 1) GTEST_SKIP() << "needs two ranks";
  fs::path run = sharedRunDir(*c, "duplicate");
  std::string e = errorOf([&] {
    ShardedCheckpointWriter w(*c, run, 1, noFaults());
    std::ofstream(w.path("same.bin")) << "rank";  // every rank writes the same name
    w.commit({});
  });
  EXPECT_NE(e.find("file same.bin is also written by rank 0 (names must be unique)"),
            std::string::npos)
      << e;
  c->barrier();
  EXPECT_TRUE(listCheckpoints(run).empty());
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_1.tmp"));
}

TEST(CollectiveCheckpoint, ChecksumMismatchAndTruncationFallBack) {
  auto c = mpiCommunicator();
  fs::path run = sharedRunDir(*c, "verify");
  saveStep(*c, run, 1);
  fs::path newest = saveStep(*c, run, 2);
  const std::string last_shard = shardFileName("classifier", c->size() - 1);
  if (c->rank() == 0) {  // flip one byte of the last rank's shard: same size, other bytes
    std::fstream f(newest / last_shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(kRowFileHeaderBytes);
    char b = 0;
    f.get(b);
    f.seekp(kRowFileHeaderBytes);
    f.put(static_cast<char>(b ^ 0x5a));
  }
  c->barrier();
  std::string e = errorOf([&] { openCheckpoint(newest); });
  EXPECT_NE(e.find(last_shard + ": checksum"), std::string::npos) << e;
  EXPECT_NE(e.find("(corrupted)"), std::string::npos) << e;
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);  // LATEST is broken: the previous one
  c->barrier();
  if (c->rank() == 0) {
    fs::resize_file(run / "checkpoints" / "step_1" / last_shard, kRowFileHeaderBytes + 3);
  }
  c->barrier();
  e = errorOf([&] { openCheckpoint(run); });
  EXPECT_NE(e.find("no valid checkpoint"), std::string::npos) << e;
  EXPECT_NE(e.find("(truncated or overwritten)"), std::string::npos) << e;
  EXPECT_NE(e.find("(corrupted)"), std::string::npos) << e;
}

TEST(AsyncCollectiveCheckpoint, TrainingCollectivesGoOnWhileRanksWrite) {
  auto c = mpiCommunicator();
  fs::path run = sharedRunDir(*c, "async");
  AsyncCheckpointOptions opt;
  opt.commit = noFaults();
  AsyncCheckpointer ck(run, opt);
  const RowRange mine = shardRange(kClasses, c->size(), c->rank());
  auto snapshot = std::make_shared<std::vector<float>>(classRows(mine));
  const bool slow = c->rank() == c->size() - 1;
  std::vector<FileJob> jobs;
  jobs.push_back(FileJob{shardFileName("classifier", c->rank()), [=](const fs::path& f) {
                           if (slow) std::this_thread::sleep_for(400ms);
                           writeRowFile(f, snapshot->data(), mine.size(), kDim, mine.begin);
                         }});
  ck.begin(*c, 8, std::move(jobs), {{"epoch", 2}});
  int steps = 0;
  SaveOutcome o;
  for (;;) {  // training steps: a gradient all-reduce, then the step-boundary poll
    std::vector<float> grad(1000, 1.0f);
    c->allReduce(grad.data(), grad.size(), DType::kFloat32, ReduceOp::kSum);
    EXPECT_EQ(grad[999], static_cast<float>(c->size()));
    o = ck.poll(*c);
    if (!o.pending()) break;
    ++steps;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(o.committed()) << o.error;
  EXPECT_GT(steps, 10);  // the 400 ms write overlapped with training steps on every rank
  EXPECT_TRUE(
      sameOnEveryRank(*c, static_cast<uint64_t>(steps)));  // the same poll committed everywhere
  EXPECT_TRUE(sameOnEveryRank(*c, textHash(o.dir.string())));
  EXPECT_EQ(o.bytes, static_cast<uint64_t>(c->size()) * kRowFileHeaderBytes + kClasses * kDim * 4);
  EXPECT_EQ(openCheckpoint(run).manifest.files.size(), static_cast<size_t>(c->size()));
  EXPECT_EQ(ck.finish(*c).status, SaveStatus::kIdle);
}

TEST(AsyncCollectiveCheckpoint, FailedSaveIsTheSameOnEveryRankAndKeepsThePrevious) {
  auto c = mpiCommunicator();
  fs::path run = sharedRunDir(*c, "async_fail");
  AsyncCheckpointOptions opt;
  opt.commit = noFaults();
  AsyncCheckpointer ck(run, opt);
  auto job = [](const std::string& text) {
    return FileJob{"", [text](const fs::path& f) { std::ofstream(f) << text; }};
  };
  FileJob a = job("one");
  a.name = shardFileName("state", c->rank());
  ck.begin(*c, 1, {a}, {});
  ASSERT_TRUE(ck.finish(*c).committed());
  FileJob b = job("two");
  b.name = shardFileName("state", c->rank());
  if (c->rank() == c->size() - 1) {
    b.write = [](const fs::path&) { throw std::runtime_error("EIO on the parallel filesystem"); };
  }
  ck.begin(*c, 2, {b}, {});
  SaveOutcome o = ck.finish(*c);
  ASSERT_TRUE(o.failed());
  EXPECT_NE(o.error.find("rank " + std::to_string(c->size() - 1) + ": writing"), std::string::npos)
      << o.error;
  EXPECT_NE(o.error.find("EIO on the parallel filesystem"), std::string::npos) << o.error;
  EXPECT_TRUE(sameOnEveryRank(*c, textHash(o.error)));
  c->barrier();
  EXPECT_EQ(latestStep(run), 1);
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_2.tmp"));
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);
}

TEST(SaveScheduleMpi, RanksFollowRankZerosClock) {
  auto c = mpiCommunicator();
  SaveSchedule s(0, 0.3);
  std::vector<int64_t> decisions;
  for (int step = 1; step <= 5; ++step) {
    // Only rank 0's clock counts: other ranks sleeping longer must not change the decision.
    if (c->rank() != 0 && step == 2) std::this_thread::sleep_for(400ms);
    if (c->rank() == 0 && step == 3) std::this_thread::sleep_for(400ms);
    decisions.push_back(s.due(*c, step) ? 1 : 0);
    std::vector<float> grad(16, 1.0f);  // the step's own collectives go on in between
    c->allReduce(grad.data(), grad.size(), DType::kFloat32, ReduceOp::kSum);
  }
  uint64_t h = fingerprint(decisions.data(), decisions.size() * sizeof(int64_t));
  EXPECT_TRUE(sameOnEveryRank(*c, h));
  // Rank 0 waited 0.4 s before step 3 and saw the time up there; every rank saves at step 4.
  EXPECT_EQ(decisions, (std::vector<int64_t>{0, 0, 0, 1, 0}));
}
