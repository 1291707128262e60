// The commit steps the writers share: names, fsync, sealing a file, publishing a step directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "l2face/checkpoint/collective.h"
#include "l2face/checkpoint/faults.h"
#include "l2face/checkpoint/store.h"

namespace l2face::checkpoint::detail {

inline constexpr const char* kManifest = "manifest.json";
inline constexpr const char* kLatest = "LATEST";

std::string stepName(int64_t step);
// step_<N> -> N; -1 for anything else (including step_<N>.tmp).
int64_t parseStep(const std::string& name);
std::filesystem::path checkpointsDir(const std::filesystem::path& run_dir);
std::filesystem::path tmpDir(const std::filesystem::path& run_dir, int64_t step);

// Throws CheckpointError naming `p` when open or fsync fails.
void fsyncPath(const std::filesystem::path& p, bool directory);
// A plain file name: not empty, no '/', not the manifest. Throws CheckpointError otherwise.
void checkFileName(const std::string& name);
// Removes a stale `tmp` (a save that crashed) and creates it empty. Throws CheckpointError.
void prepareTmp(const std::filesystem::path& tmp);
// Size, fsync and xxh64 of a written file (one open, one read pass). Throws CheckpointError naming
// the file when it is missing or cannot be read or synced.
FileEntry sealFile(const std::filesystem::path& file);

// Steps 3–6 of the commit protocol on the committing process (rank 0), for the files already
// sealed in tmpDir(run_dir, step): manifest (temp, fsync, rename), directory rename + fsync of the
// parent, LATEST, then retention (old checkpoints, orphans, stale .tmp directories), which
// `deferred_removals`, when given, receives instead of deleting. Crash points of `faults` are
// honoured for `rank`. Throws CheckpointError (filesystem errors included); LATEST then still
// names the previous checkpoint, and a step directory it does not name is never loaded.
std::filesystem::path publish(const std::filesystem::path& run_dir, int64_t step, int world_size,
                              const std::map<std::string, FileEntry>& files,
                              const nlohmann::json& meta, const Retention& retention,
                              const FaultPlan& faults, int rank,
                              std::vector<std::filesystem::path>* deferred_removals = nullptr);

// remove_all of each path, errors ignored (retention is best effort).
void removePaths(const std::vector<std::filesystem::path>& paths);

// agreeAndCommit (collective.h) with retention's deletions handed to `deferred_removals` (rank 0)
// instead of done on the calling thread.
SaveOutcome agreeAndCommit(comm::Communicator& comm, const std::filesystem::path& run_dir,
                           int64_t step, const LocalSave& mine, const nlohmann::json& meta,
                           const CommitOptions& options,
                           std::vector<std::filesystem::path>* deferred_removals);

}  // namespace l2face::checkpoint::detail
