// Checkpoint store: atomic commit of a step's files under RUN_DIR/checkpoints, and finding them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// Writes one checkpoint. Protocol (steps numbered where implemented, in store.cpp):
//   1. files are written into checkpoints/step_<N>.tmp/ (the caller writes them at path());
//   2. commit(): each file is fsynced and checksummed (xxh64);
//   3. manifest.json is written to a temp name, fsynced and renamed;
//   4. step_<N>.tmp is renamed to step_<N> and the parent directory fsynced;
//   5. LATEST is replaced atomically (temp + rename) with "step_<N>";
//   6. retention deletes the oldest committed checkpoints beyond keep_last.
// A directory without a committed manifest is never loaded. Not thread-safe; one owner.
class CheckpointWriter {
 public:
  CheckpointWriter(std::filesystem::path run_dir, int64_t step, int world_size);
  ~CheckpointWriter();  // removes the .tmp directory if commit() was never reached
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Where the caller writes file `name` (a plain file name, no separators).
  std::filesystem::path path(const std::string& name);
  // Commits and returns the committed directory. keep_last = 0 keeps everything.
  std::filesystem::path commit(const nlohmann::json& meta, int keep_last);

 private:
  std::filesystem::path checkpoints_;
  std::filesystem::path tmp_;
  int64_t step_;
  int world_size_;
  std::vector<std::string> names_;
  bool committed_ = false;
};

struct LoadedCheckpoint {
  std::filesystem::path dir;
  Manifest manifest;
  std::filesystem::path file(const std::string& name) const;
};

// Resolves PATH: a committed checkpoint directory, or a run directory (its newest valid
// checkpoint, via LATEST and then by scanning, skipping broken ones with a warning on stderr).
// Verifies sizes and checksums. Throws CheckpointError naming the path and what is wrong.
LoadedCheckpoint openCheckpoint(const std::filesystem::path& path);

// Committed checkpoint directories of a run, oldest first (manifest present; not verified).
std::vector<std::filesystem::path> listCheckpoints(const std::filesystem::path& run_dir);

// xxh64 of a file as 16 hex digits.
std::string fileXxh64(const std::filesystem::path& file);

// Writes text to `path` atomically: temp file, fsync, rename, fsync of the directory.
void writeFileAtomic(const std::filesystem::path& path, const std::string& text);

}  // namespace l2face::checkpoint
