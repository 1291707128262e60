// Tests of the checkpoint store: commit protocol, verification, fallback and retention.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "l2face/checkpoint/store.h"

namespace fs = std::filesystem;
using namespace l2face::checkpoint;

namespace {

fs::path freshDir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("l2face_ckpt_" + name + "_" + std::to_string(::getpid()));
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

TEST(Store, CommitWritesManifestAndLatest) {
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

TEST(Store, UncommittedDirectoryIsNeverLoaded) {
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

TEST(Store, CorruptNewestFallsBackToPrevious) {
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

TEST(Store, RetentionKeepsNewest) {
  fs::path run = freshDir("retention");
  for (int s = 1; s <= 5; ++s) save(run, s * 10, "x", 2);
  auto all = listCheckpoints(run);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].filename(), "step_40");
  EXPECT_EQ(all[1].filename(), "step_50");
}

TEST(Store, MissingPathsAreClearErrors) {
  fs::path run = freshDir("missing");
  EXPECT_THROW(openCheckpoint(run / "nope"), CheckpointError);
  EXPECT_THROW(openCheckpoint(run), CheckpointError);
  CheckpointWriter w(run, 1, 1);
  EXPECT_THROW(w.path("a/b"), CheckpointError);
  w.path("never_written.pt");
  EXPECT_THROW(w.commit({}, 0), CheckpointError);
}
