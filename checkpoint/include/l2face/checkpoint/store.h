// Checkpoint store: atomic commit of a step's files under RUN_DIR/checkpoints, and finding them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "l2face/checkpoint/faults.h"

namespace l2face::checkpoint {

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FileEntry {
  uint64_t size_bytes = 0;
  std::string xxh64;  // hex
};

// What manifest.json records. `meta` is the trainer's (model geometry, config digest, ...).
struct Manifest {
  int format_version = 1;
  int64_t step = 0;
  int world_size = 1;
  std::map<std::string, FileEntry> files;
  nlohmann::json meta = nlohmann::json::object();
};

inline constexpr int kFormatVersion = 1;

// Which committed checkpoints survive a commit: the keep_last newest (0 = all), plus every one
// whose step is a multiple of keep_every (0 = none), plus the one LATEST names.
struct Retention {
  int keep_last = 3;
  int64_t keep_every = 0;
};

// Pure: of the committed steps (any order), those `r` deletes; `latest` is never among them.
std::vector<int64_t> stepsToDelete(std::vector<int64_t> steps, const Retention& r, int64_t latest);

// Writes one checkpoint from one process (the collective form is ShardedCheckpointWriter in
// collective.h; both share the steps below, implemented in publish.cpp). Protocol:
//   1. files are written into checkpoints/step_<N>.tmp/ (the caller writes them at path());
//   2. commit(): each file is fsynced and checksummed (xxh64);
//   3. manifest.json is written to a temp name, fsynced and renamed;
//   4. step_<N>.tmp is renamed to step_<N> and the parent directory fsynced;
//   5. LATEST is replaced atomically (temp + rename) with "step_<N>": the commit point;
//   6. retention deletes committed checkpoints it does not keep, orphans (directories newer than
//      the previous LATEST other than this one: saves that crashed before step 5) and stale
//      step_*.tmp directories.
// A directory without a committed manifest is never loaded. Honours the checkpoint faults of
// L2FACE_FAULT (rank 0). Not thread-safe; one owner; one save at a time per run directory.
class CheckpointWriter {
 public:
  CheckpointWriter(std::filesystem::path run_dir, int64_t step, int world_size,
                   FaultPlan faults = FaultPlan::fromEnvironment());
  ~CheckpointWriter();  // removes the .tmp directory if commit() was never reached
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Where the caller writes file `name` (a plain file name, no separators).
  std::filesystem::path path(const std::string& name);
  // Commits and returns the committed directory. keep_last = 0 keeps everything.
  std::filesystem::path commit(const nlohmann::json& meta, int keep_last);
  std::filesystem::path commit(const nlohmann::json& meta, const Retention& retention);

 private:
  std::filesystem::path run_dir_;
  std::filesystem::path tmp_;
  int64_t step_;
  int world_size_;
  FaultPlan faults_;
  std::vector<std::string> names_;
  bool committed_ = false;
};

struct LoadedCheckpoint {
  std::filesystem::path dir;
  Manifest manifest;
  std::filesystem::path file(const std::string& name) const;
};

// Resolves PATH: a committed checkpoint directory, or a run directory. For a run directory the
// candidates are the checkpoint LATEST names, then the older committed ones, newest first; a
// step_<N> newer than LATEST is a save whose commit did not finish (a crash between its rename and
// LATEST) and is skipped. Without a readable LATEST every committed directory is a candidate.
// Broken candidates are skipped with a warning on stderr. Verifies sizes and checksums. Throws
// CheckpointError naming the path and what is wrong with each candidate.
LoadedCheckpoint openCheckpoint(const std::filesystem::path& path);

// Committed checkpoint directories of a run, oldest first (manifest present; not verified).
std::vector<std::filesystem::path> listCheckpoints(const std::filesystem::path& run_dir);

// The step LATEST names, or -1 when it is missing or unreadable.
int64_t latestStep(const std::filesystem::path& run_dir);

// The file name rank `rank` uses for its part of a sharded state: "<stem>.shard-00003<extension>".
// Unique per rank, so that ranks never write the same file.
std::string shardFileName(const std::string& stem, int rank, const std::string& extension = ".bin");

// xxh64 of a file as 16 hex digits.
std::string fileXxh64(const std::filesystem::path& file);

// Writes text to `path` atomically: temp file, fsync, rename, fsync of the directory.
void writeFileAtomic(const std::filesystem::path& path, const std::string& text);

}  // namespace l2face::checkpoint
