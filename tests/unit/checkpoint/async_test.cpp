// Tests of asynchronous saves and the save schedule in one process (the local communicator).
#include "l2face/checkpoint/async.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "l2face/checkpoint/rows.h"

namespace fs = std::filesystem;
using namespace l2face::checkpoint;
using namespace std::chrono_literals;

namespace {

fs::path freshDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("l2face_async_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

FileJob textJob(const std::string& name, const std::string& text) {
  return FileJob{name, [text](const fs::path& f) { std::ofstream(f, std::ios::binary) << text; }};
}

AsyncCheckpointOptions noFaults(Retention r = {}) {
  AsyncCheckpointOptions o;
  o.commit.faults = FaultPlan{};
  o.commit.retention = r;
  return o;
}

// Polls like a training loop until the save is over; counts the steps that ran meanwhile.
SaveOutcome pollUntilDone(AsyncCheckpointer& ck, l2face::comm::Communicator& comm, int* steps) {
  for (;;) {
    SaveOutcome o = ck.poll(comm);
    if (!o.pending()) return o;
    ++*steps;
    std::this_thread::sleep_for(1ms);
  }
}

}  // namespace

TEST(AsyncCheckpoint, TrainingContinuesWhileTheSaveIsWritten) {
  fs::path run = freshDir("overlap");
  auto comm = l2face::comm::makeLocalCommunicator();
  AsyncCheckpointer ck(run, noFaults());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> writer_waited_in_vain{false};
  std::vector<float> snapshot = {1, 2, 3, 4, 5, 6};
  std::vector<FileJob> jobs;
  jobs.push_back(
      FileJob{shardFileName("classifier", 0), [=, &writer_waited_in_vain](const fs::path& f) {
                // Blocks until the training thread, after begin() returned, lets it go.
                if (released.wait_for(20s) != std::future_status::ready)
                  writer_waited_in_vain = true;
                writeRowFile(f, snapshot.data(), 2, 3, 0);
              }});
  jobs.push_back(textJob("backbone.pt", "weights"));
  ck.begin(*comm, 10, std::move(jobs), {{"epoch", 1}});
  EXPECT_TRUE(ck.pending());
  EXPECT_EQ(ck.pendingStep(), 10);
  for (int i = 0; i < 5; ++i) {  // training steps while the writer is blocked
    SaveOutcome o = ck.poll(*comm);
    EXPECT_EQ(o.status, SaveStatus::kPending);
    EXPECT_EQ(o.step, 10);
  }
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step_10.tmp"));
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "LATEST"));
  release.set_value();
  int steps = 0;
  SaveOutcome o = pollUntilDone(ck, *comm, &steps);
  EXPECT_FALSE(writer_waited_in_vain.load());
  ASSERT_TRUE(o.committed()) << o.error;
  EXPECT_FALSE(ck.pending());
  EXPECT_EQ(o.dir, run / "checkpoints" / "step_10");
  EXPECT_EQ(o.bytes, kRowFileHeaderBytes + 6 * 4 + 7);
  LoadedCheckpoint c = openCheckpoint(run);
  EXPECT_EQ(c.manifest.step, 10);
  EXPECT_EQ(c.manifest.meta["epoch"], 1);
  EXPECT_EQ(c.manifest.files.size(), 2u);
  std::vector<float> back(6);
  readRows(c.file(shardFileName("classifier", 0)), 0, 2, back.data());
  EXPECT_EQ(back, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ck.poll(*comm).status, SaveStatus::kIdle);  // nothing pending: no collective, idle
  EXPECT_EQ(ck.finish(*comm).status, SaveStatus::kIdle);
}

TEST(AsyncCheckpoint, NextSaveWaitsForThePrevious) {
  fs::path run = freshDir("one_at_a_time");
  auto comm = l2face::comm::makeLocalCommunicator();
  AsyncCheckpointer ck(run, noFaults(Retention{0, 0}));
  std::vector<FileJob> jobs;
  jobs.push_back(FileJob{"slow.bin", [](const fs::path& f) {
                           std::this_thread::sleep_for(200ms);
                           std::ofstream(f) << "slow";
                         }});
  ck.begin(*comm, 1, std::move(jobs), {});
  EXPECT_THROW(ck.begin(*comm, 2, {textJob("b", "b")}, {}), std::logic_error);
  const auto t0 = std::chrono::steady_clock::now();
  SaveOutcome first = ck.finish(*comm);  // blocks for the writer
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  ASSERT_TRUE(first.committed()) << first.error;
  EXPECT_GE(first.write_seconds, 0.15);
  ck.begin(*comm, 2, {textJob("b", "b")}, {});
  ASSERT_TRUE(ck.finish(*comm).committed());
  EXPECT_EQ(listCheckpoints(run).size(), 2u);
  EXPECT_EQ(latestStep(run), 2);
}

TEST(AsyncCheckpoint, FailedSaveIsReportedAndThePreviousStays) {
  fs::path run = freshDir("failed");
  auto comm = l2face::comm::makeLocalCommunicator();
  AsyncCheckpointer ck(run, noFaults());
  ck.begin(*comm, 5, {textJob("model.pt", "five")}, {});
  ASSERT_TRUE(ck.finish(*comm).committed());
  std::vector<FileJob> jobs = {textJob("model.pt", "six")};
  jobs.push_back(FileJob{"classifier.shard-00000.bin", [](const fs::path&) {
                           throw std::runtime_error("No space left on device");
                         }});
  ck.begin(*comm, 6, std::move(jobs), {});
  int steps = 0;
  SaveOutcome o = pollUntilDone(ck, *comm, &steps);
  ASSERT_TRUE(o.failed());
  EXPECT_NE(o.error.find("checkpoint step 6 failed: rank 0: writing"), std::string::npos)
      << o.error;
  EXPECT_NE(o.error.find("classifier.shard-00000.bin: No space left on device"), std::string::npos)
      << o.error;
  EXPECT_FALSE(ck.pending());
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_6.tmp"));
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_6"));
  EXPECT_EQ(latestStep(run), 5);
  EXPECT_EQ(openCheckpoint(run).manifest.step, 5);
  // The next save works again.
  ck.begin(*comm, 7, {textJob("model.pt", "seven")}, {});
  EXPECT_TRUE(ck.finish(*comm).committed());
  EXPECT_EQ(openCheckpoint(run).manifest.step, 7);
}

TEST(AsyncCheckpoint, FatalOptionThrows) {
  fs::path run = freshDir("fatal");
  auto comm = l2face::comm::makeLocalCommunicator();
  AsyncCheckpointOptions opt = noFaults();
  opt.failures_fatal = true;
  opt.commit.faults = FaultPlan::parse("checkpoint.write_fail@step3");
  AsyncCheckpointer ck(run, opt);
  ck.begin(*comm, 2, {textJob("m", "2")}, {});
  EXPECT_TRUE(ck.finish(*comm).committed());
  ck.begin(*comm, 3, {textJob("m", "3")}, {});
  try {
    ck.finish(*comm);
    FAIL() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0: injected fault checkpoint.write_fail"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(ck.pending());
  EXPECT_EQ(openCheckpoint(run).manifest.step, 2);
}

TEST(AsyncCheckpoint, SlowWriteFaultDelaysTheWriter) {
  fs::path run = freshDir("slow");
  auto comm = l2face::comm::makeLocalCommunicator();
  AsyncCheckpointOptions opt = noFaults();
  opt.commit.faults = FaultPlan::parse("checkpoint.slow_write=300@rank0");
  AsyncCheckpointer ck(run, opt);
  ck.begin(*comm, 1, {textJob("m", "1")}, {});
  EXPECT_TRUE(ck.poll(*comm).pending());
  SaveOutcome o = ck.finish(*comm);
  ASSERT_TRUE(o.committed()) << o.error;
  EXPECT_GE(o.write_seconds, 0.25);
}

TEST(AsyncCheckpoint, DestroyedWhilePendingLeavesNothingLoadable) {
  fs::path run = freshDir("abandoned");
  auto comm = l2face::comm::makeLocalCommunicator();
  {
    AsyncCheckpointer ck(run, noFaults());
    ck.begin(*comm, 1, {textJob("m", "1")}, {});
    ASSERT_TRUE(ck.finish(*comm).committed());
    ck.begin(*comm, 2, {textJob("m", "2")}, {});
  }  // not committed
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);
  EXPECT_EQ(latestStep(run), 1);
}

TEST(AsyncCheckpoint, JobWithoutWriterIsRejected) {
  fs::path run = freshDir("no_writer");
  auto comm = l2face::comm::makeLocalCommunicator();
  AsyncCheckpointer ck(run, noFaults());
  EXPECT_THROW(ck.begin(*comm, 1, {FileJob{"x", nullptr}}, {}), std::invalid_argument);
  EXPECT_THROW(ck.begin(*comm, 1, {textJob("a/b", "x")}, {}), std::invalid_argument);
  EXPECT_THROW(ck.begin(*comm, 1, {textJob("manifest.json", "x")}, {}), std::invalid_argument);
  EXPECT_FALSE(ck.pending());
}

TEST(CheckpointSchedule, EverySteps) {
  auto comm = l2face::comm::makeLocalCommunicator();
  SaveSchedule s(5, 0);
  std::vector<int64_t> due;
  for (int64_t step = 0; step <= 20; ++step) {
    if (s.due(*comm, step)) due.push_back(step);
  }
  EXPECT_EQ(due, (std::vector<int64_t>{5, 10, 15, 20}));
  SaveSchedule off(0, 0);
  EXPECT_FALSE(off.due(*comm, 5));
}

TEST(CheckpointSchedule, EverySecondsRestartsAfterEachDueSave) {
  auto comm = l2face::comm::makeLocalCommunicator();
  SaveSchedule s(0, 0.2);
  EXPECT_FALSE(s.due(*comm, 1));
  std::this_thread::sleep_for(250ms);
  EXPECT_FALSE(s.due(*comm, 2));  // rank 0 sees the time up here; every rank learns it next step
  EXPECT_TRUE(s.due(*comm, 3));
  EXPECT_FALSE(s.due(*comm, 4));  // the clock restarted
  EXPECT_FALSE(s.due(*comm, 5));
  std::this_thread::sleep_for(250ms);
  s.restartClock();
  EXPECT_FALSE(s.due(*comm, 6));
  EXPECT_FALSE(s.due(*comm, 7));
  SaveSchedule both(10, 3600);
  EXPECT_TRUE(both.due(*comm, 10));
  EXPECT_FALSE(both.due(*comm, 11));
}

TEST(AsyncCheckpoint, UncreatableDirectoryFailsTheSaveWithoutThrowing) {
  fs::path run = freshDir("uncreatable");
  std::ofstream(run / "checkpoints") << "a file where the directory should be";
  auto comm = l2face::comm::makeLocalCommunicator();
  AsyncCheckpointer ck(run, noFaults());
  bool ran = false;
  ck.begin(*comm, 4, {FileJob{"m", [&ran](const fs::path&) { ran = true; }}}, {});
  EXPECT_TRUE(ck.pending());
  SaveOutcome o = ck.poll(*comm);
  ASSERT_TRUE(o.failed());
  EXPECT_EQ(o.step, 4);
  EXPECT_NE(o.error.find("checkpoint step 4: rank 0: cannot create"), std::string::npos) << o.error;
  EXPECT_FALSE(ck.pending());
  EXPECT_FALSE(ran);
  AsyncCheckpointOptions fatal = noFaults();
  fatal.failures_fatal = true;
  AsyncCheckpointer strict(run, fatal);
  EXPECT_THROW(strict.begin(*comm, 5, {textJob("m", "5")}, {}), CheckpointError);
  EXPECT_FALSE(strict.pending());
}

TEST(AsyncCheckpoint, RetentionDeletesOnTheBackgroundThreadBeforeTheNextSave) {
  fs::path run = freshDir("retention");
  auto comm = l2face::comm::makeLocalCommunicator();
  fs::create_directories(run / "checkpoints" / "step_3.tmp");  // a stale leftover of step 3
  std::ofstream(run / "checkpoints" / "step_3.tmp" / "old") << "old";
  {
    AsyncCheckpointer ck(run, noFaults(Retention{1, 0}));
    ck.begin(*comm, 1, {textJob("m", "1")}, {});
    ASSERT_TRUE(ck.finish(*comm).committed());
    ck.begin(*comm, 2, {textJob("m", "2")}, {});
    ASSERT_TRUE(ck.finish(*comm).committed());
    // begin() waits for the deletions of step 2's commit (step_1 and the stale step_3.tmp) before
    // it creates step_3.tmp, so they cannot remove the new save's directory.
    ck.begin(*comm, 3, {textJob("m", "3")}, {});
    EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_1"));
    EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_3.tmp" / "old"));
    SaveOutcome o = ck.finish(*comm);
    ASSERT_TRUE(o.committed()) << o.error;
  }  // the destructor completes the last deletions
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"LATEST", "step_3"}));
  EXPECT_EQ(openCheckpoint(run).manifest.step, 3);
}
