// Sharded checkpoints: every rank writes its own files; a collective protocol commits them as one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "l2face/checkpoint/faults.h"
#include "l2face/checkpoint/store.h"
#include "l2face/comm/communicator.h"

namespace l2face::checkpoint {

// The collective commit protocol (implemented in collective.cpp, steps numbered there):
//
//   1. begin   rank 0 removes a stale step_<N>.tmp/ and creates it; its result is broadcast, so no
//              rank writes before the directory exists (and every rank fails alike if it cannot).
//   2. write   each rank writes ITS OWN files into step_<N>.tmp/ (names unique across ranks, e.g.
//              shardFileName("classifier", rank)), then fsyncs them and computes their xxh64.
//   3. agree   every rank contributes an ok flag, its error text and its file entries as JSON
//              (allreduce MAX of the lengths, then one allgather of buffers of that length); every
//              rank derives the same verdict from the same data. A failed rank, or two ranks
//              claiming one file name, fails the save.
//   4. commit  rank 0 alone: on success it checks that every rank's files are visible with their
//              sizes, writes manifest.json (temp, fsync, rename), renames step_<N>.tmp to step_<N>,
//              fsyncs checkpoints/, replaces LATEST atomically (the commit point) and applies
//              retention; on failure it removes step_<N>.tmp. The previous checkpoint and LATEST
//              are untouched by a failed save.
//   5. outcome rank 0 broadcasts what happened, so every rank returns the same committed path or
//              the same error text (naming the failing ranks and their messages).
//
// RUN_DIR must be on a filesystem that every rank sees (NFS, Lustre, GPFS, or one host's local
// disk for single-node jobs): rank 0 writes the manifest for files the other ranks wrote and checks
// in step 4 that it can see them. One save at a time per run directory.
//
// The collectives need a communicator whose memoryKind() is kHost (local, mpi): buffers are host
// memory. They are issued by the calling thread, in the same order on every rank.

// Options of a commit.
struct CommitOptions {
  Retention retention;
  FaultPlan faults = FaultPlan::fromEnvironment();
};

// What one rank did for a save: its sealed files, or why it failed.
struct LocalSave {
  bool ok = true;
  std::string error;                       // when !ok
  std::map<std::string, FileEntry> files;  // file name -> size and checksum
  double seconds = 0;                      // writing + fsync + checksum on this rank
};

enum class SaveStatus {
  kIdle,       // no save was pending
  kPending,    // the save is still being written on some rank
  kCommitted,  // committed: `dir` is the new checkpoint and LATEST names it
  kFailed,     // failed on some rank: `error` says where; the previous checkpoint stays current
};
const char* saveStatusName(SaveStatus s);

// What a save came to. Identical on every rank except the per-rank timings.
struct SaveOutcome {
  SaveStatus status = SaveStatus::kIdle;
  int64_t step = -1;
  std::filesystem::path dir;  // kCommitted
  std::string error;          // kFailed: "checkpoint step N failed: rank R: ...; rank Q: ..."
  uint64_t bytes = 0;         // kCommitted: the files of every rank together
  double write_seconds = 0;   // this rank: writing + fsync + checksum on the background thread
                              // (AsyncCheckpointer); fsync + checksum (ShardedCheckpointWriter)
  double commit_seconds = 0;  // this rank: steps 3–5 on the calling thread
  bool committed() const { return status == SaveStatus::kCommitted; }
  bool failed() const { return status == SaveStatus::kFailed; }
  bool pending() const { return status == SaveStatus::kPending; }
};

// Step 1. Collective. Returns step_<N>.tmp/ on every rank, or throws the same CheckpointError on
// every rank when rank 0 cannot create it.
std::filesystem::path beginCollectiveSave(comm::Communicator& comm,
                                          const std::filesystem::path& run_dir, int64_t step);

// Step 2's sealing. Local, no collective: fsync + size + xxh64 of each named file under `dir`.
// Never throws: an error (a missing file, an I/O error) becomes !ok with a message naming the file.
LocalSave sealFiles(const std::filesystem::path& dir, const std::vector<std::string>& names);

// Steps 3–5. Collective (three or four collectives, the same on every rank whatever happened).
// Every rank passes its LocalSave; rank 0's `meta` goes into the manifest (the other ranks' is
// ignored). Honours options.faults (checkpoint.write_fail turns `mine` into a failure; the crash
// points). Returns kCommitted or kFailed, the same on every rank; throws only comm::CommError (a
// collective failed) or CheckpointError for a non-host communicator.
SaveOutcome agreeAndCommit(comm::Communicator& comm, const std::filesystem::path& run_dir,
                           int64_t step, const LocalSave& mine, const nlohmann::json& meta,
                           const CommitOptions& options);

// A synchronous sharded save: steps 1–5 on the calling thread.
//
//   ShardedCheckpointWriter w(comm, run_dir, step);            // collective
//   writeRowFile(w.path(shardFileName("classifier", rank)), ...);   // this rank's files
//   std::filesystem::path dir = w.commit(meta);                 // collective; throws on every rank
//
// A rank whose writing failed calls fail(message) (or simply does not write a file it named with
// path()) and still calls commit(), which then throws the same CheckpointError on every rank.
// Not thread-safe; one owner per rank.
class ShardedCheckpointWriter {
 public:
  // Step 1 (collective).
  ShardedCheckpointWriter(comm::Communicator& comm, std::filesystem::path run_dir, int64_t step,
                          CommitOptions options = {});
  // Not collective: an uncommitted step_<N>.tmp is left as it is (never loaded; the next save's
  // retention removes it).
  ~ShardedCheckpointWriter() = default;
  ShardedCheckpointWriter(const ShardedCheckpointWriter&) = delete;
  ShardedCheckpointWriter& operator=(const ShardedCheckpointWriter&) = delete;

  // Local: where this rank writes file `name` (a plain name, unique across ranks).
  std::filesystem::path path(const std::string& name);
  // Local: this rank's part failed; commit() reports `message` on every rank.
  void fail(const std::string& message);
  // Steps 2–5 (collective). The committed directory, or the same CheckpointError on every rank.
  std::filesystem::path commit(const nlohmann::json& meta);
  // The same, returning a kFailed outcome instead of throwing.
  SaveOutcome commitOutcome(const nlohmann::json& meta);

 private:
  comm::Communicator& comm_;
  std::filesystem::path run_dir_;
  std::filesystem::path tmp_;
  int64_t step_;
  CommitOptions options_;
  std::vector<std::string> names_;
  std::string failure_;
  bool done_ = false;
};

}  // namespace l2face::checkpoint
