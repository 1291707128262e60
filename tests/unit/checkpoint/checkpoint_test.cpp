// Tests of the checkpoint store: commit protocol, verification, fallback and retention.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "l2face/checkpoint/store.h"

namespace fs = std::filesystem;
using namespace l2face::checkpoint;

namespace {

fs::path freshDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("l2face_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

fs::path save(const fs::path& run, int64_t step, const std::string& payload, int keep = 0) {
  CheckpointWriter w(run, step, 1);
  std::ofstream(w.path("model.pt"), std::ios::binary) << payload;
  return w.commit({{"note", payload}}, keep);
}

}  // namespace

TEST(CheckpointStore, CommitWritesManifestAndLatest) {
  fs::path run = freshDir("commit");
  fs::path dir = save(run, 5, "weights-5");
  EXPECT_EQ(dir, run / "checkpoints" / "step_5");
  EXPECT_TRUE(fs::exists(dir / "manifest.json"));
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_5.tmp"));
  std::ifstream latest(run / "checkpoints" / "LATEST");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "step_5");
  LoadedCheckpoint c = openCheckpoint(run);
  EXPECT_EQ(c.manifest.step, 5);
  EXPECT_EQ(c.manifest.meta["note"], "weights-5");
  EXPECT_EQ(c.manifest.files.at("model.pt").size_bytes, 9u);
  EXPECT_EQ(openCheckpoint(dir).manifest.step, 5);
}

TEST(CheckpointStore, UncommittedDirectoryIsNeverLoaded) {
  fs::path run = freshDir("uncommitted");
  save(run, 1, "one");
  {
    CheckpointWriter w(run, 2, 1);
    std::ofstream(w.path("model.pt")) << "two";
    // destroyed without commit: a crash before the manifest
  }
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_2.tmp"));
  fs::create_directories(run / "checkpoints" / "step_3");  // a directory without a manifest
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);
}

TEST(CheckpointStore, CorruptNewestFallsBackToPrevious) {
  fs::path run = freshDir("corrupt");
  save(run, 1, "aaaa");
  fs::path newest = save(run, 2, "bbbb");
  {
    std::fstream f(newest / "model.pt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1);
    f.put('X');  // same size, different bytes
  }
  EXPECT_THROW(openCheckpoint(newest), CheckpointError);
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);
  fs::resize_file(run / "checkpoints" / "step_1" / "model.pt", 2);  // truncate the other one too
  try {
    openCheckpoint(run);
    FAIL() << "expected an error";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("corrupted"), std::string::npos) << e.what();
  }
}

TEST(CheckpointStore, RetentionKeepsNewest) {
  fs::path run = freshDir("retention");
  for (int s = 1; s <= 5; ++s) save(run, s * 10, "x", 2);
  auto all = listCheckpoints(run);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].filename(), "step_40");
  EXPECT_EQ(all[1].filename(), "step_50");
}

TEST(CheckpointStore, MissingPathsAreClearErrors) {
  fs::path run = freshDir("missing");
  EXPECT_THROW(openCheckpoint(run / "nope"), CheckpointError);
  EXPECT_THROW(openCheckpoint(run), CheckpointError);
  CheckpointWriter w(run, 1, 1);
  EXPECT_THROW(w.path("a/b"), CheckpointError);
  w.path("never_written.pt");
  EXPECT_THROW(w.commit({}, 0), CheckpointError);
}

TEST(CheckpointRetention, KeepLastPlusKeepEvery) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(stepsToDelete({10, 20, 30, 40, 50}, Retention{2, 0}, 50), (V{10, 20, 30}));
  EXPECT_EQ(stepsToDelete({50, 10, 40, 30, 20}, Retention{2, 20}, 50), (V{10, 30}));
  EXPECT_EQ(stepsToDelete({10, 20, 30}, Retention{0, 20}, 30), V{});  // keep_last 0: keep all
  EXPECT_EQ(stepsToDelete({10, 20, 30}, Retention{5, 0}, 30), V{});
  EXPECT_EQ(stepsToDelete({10, 20, 30}, Retention{1, 0}, 20), (V{10}));  // LATEST is never deleted
  EXPECT_EQ(stepsToDelete({5, 7, 1000, 1001}, Retention{1, 1000}, 1001), (V{5, 7}));
}

TEST(CheckpointRetention, AppliedOnDiskWithKeepEvery) {
  fs::path run = freshDir("keep_every");
  for (int s = 1; s <= 9; ++s) {
    CheckpointWriter w(run, s * 5, 1, FaultPlan{});
    std::ofstream(w.path("model.pt")) << s;
    w.commit({}, Retention{2, 20});
  }
  std::vector<std::string> names;
  for (const auto& p : listCheckpoints(run)) names.push_back(p.filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"step_20", "step_40", "step_45"}));
}

TEST(CheckpointStore, StaleTmpDirectoriesAreRemovedByTheNextCommit) {
  fs::path run = freshDir("stale_tmp");
  fs::create_directories(run / "checkpoints" / "step_3.tmp");
  std::ofstream(run / "checkpoints" / "step_3.tmp" / "x") << "partial";
  save(run, 4, "four");
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_3.tmp"));
}

TEST(CheckpointStore, DirectoryNewerThanLatestIsNotTrusted) {
  // A crash between the rename of step_2.tmp and the update of LATEST leaves a complete step_2
  // that LATEST does not name: the commit did not finish, so step_1 is the current checkpoint.
  fs::path run = freshDir("newer_than_latest");
  save(run, 1, "one");
  save(run, 2, "two");
  writeFileAtomic(run / "checkpoints" / "LATEST", "step_1\n");
  EXPECT_EQ(latestStep(run), 1);
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);
  EXPECT_EQ(openCheckpoint(run / "checkpoints" / "step_2").manifest.step, 2);  // explicit: allowed
  fs::remove(run / "checkpoints" / "LATEST");  // no LATEST: every committed directory counts
  EXPECT_EQ(latestStep(run), -1);
  EXPECT_EQ(openCheckpoint(run).manifest.step, 2);
}

TEST(CheckpointStore, ShardFileNames) {
  EXPECT_EQ(shardFileName("classifier", 3), "classifier.shard-00003.bin");
  EXPECT_EQ(shardFileName("optimizer", 12, ".pt"), "optimizer.shard-00012.pt");
}

TEST(CheckpointFaults, ParseQualifiersAndMatch) {
  FaultPlan p = FaultPlan::parse(
      "checkpoint.write_fail@rank1,checkpoint.slow_write=250@step4@rank0,train.other@rank2");
  ASSERT_EQ(p.faults().size(), 3u);
  EXPECT_TRUE(p.has("checkpoint.write_fail", 1, 7));
  EXPECT_FALSE(p.has("checkpoint.write_fail", 0, 7));
  const Fault* slow = p.find("checkpoint.slow_write", 0, 4);
  ASSERT_NE(slow, nullptr);
  EXPECT_EQ(slow->value, 250);
  EXPECT_FALSE(p.has("checkpoint.slow_write", 0, 5));
  EXPECT_FALSE(p.has("checkpoint.crash_before_latest", 0, 4));
  EXPECT_TRUE(FaultPlan::parse("").empty());
  EXPECT_THROW(FaultPlan::parse("checkpoint.write_fial"), std::invalid_argument);
  EXPECT_THROW(FaultPlan::parse("checkpoint.write_fail@node3"), std::invalid_argument);
  EXPECT_THROW(FaultPlan::parse("checkpoint.write_fail@rankX"), std::invalid_argument);
  EXPECT_THROW(FaultPlan::parse("checkpoint.slow_write=-5"), std::invalid_argument);
}

TEST(CheckpointFaults, WriteFailKeepsThePreviousCheckpoint) {
  fs::path run = freshDir("write_fail");
  save(run, 1, "one");
  {
    CheckpointWriter w(run, 2, 1, FaultPlan::parse("checkpoint.write_fail@step2"));
    std::ofstream(w.path("model.pt")) << "two";
    try {
      w.commit({}, 0);
      FAIL() << "expected the injected failure";
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find("injected fault checkpoint.write_fail"),
                std::string::npos);
    }
  }
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_2.tmp"));
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step_2"));
  EXPECT_EQ(latestStep(run), 1);
  EXPECT_EQ(openCheckpoint(run).manifest.step, 1);
}
