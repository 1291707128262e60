// Asynchronous sharded saves (writing on a background thread, committing on the training thread),
// and the rule that decides when a save is due.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "l2face/checkpoint/collective.h"
#include "l2face/comm/communicator.h"

namespace l2face::checkpoint {

// One file of this rank's part of a save: `write` creates the file at the path it is given. It
// runs on the background thread, so it must only read host data that nothing changes until the
// save is over (a snapshot it owns, e.g. captured by value or by shared_ptr), never live
// training state or device memory. It throws (any std::exception) to report a failure.
struct FileJob {
  std::string name;  // a plain file name, unique across ranks (shardFileName)
  std::function<void(const std::filesystem::path& file)> write;
};

struct AsyncCheckpointOptions {
  CommitOptions commit;
  // false (default): a failed save is returned as a kFailed outcome (the trainer logs and counts
  // it; training goes on; the previous checkpoint stays current). true: poll()/finish() throw it
  // as a CheckpointError, on every rank alike.
  bool failures_fatal = false;
};

// Saves a checkpoint while training continues. Use from the training thread of every rank:
//
//   at a step boundary where a save is due (the same step on every rank, see SaveSchedule):
//     report(ckpt.finish(comm));                 // the next save waits for the previous one
//     jobs = snapshot();                         // copy state to host memory owned by the jobs
//     ckpt.begin(comm, step, std::move(jobs), meta);
//   at every other step boundary:
//     if (ckpt.pending()) report(ckpt.poll(comm));
//   at the end of training (and before exiting on a signal):
//     report(ckpt.finish(comm));
//
// begin() runs protocol step 1 (collective) and hands the jobs to the background thread, which
// runs them, fsyncs and checksums the files (step 2) and makes no collective call. poll() is one
// allreduce of the ranks' "written" flags; when every rank has finished it runs steps 3–5
// (agreeAndCommit) on the calling thread, except retention's deletions, which rank 0's background
// thread carries out afterwards. Rule: one save at a time; begin() throws std::logic_error while
// one is pending, so call finish() first.
//
// begin(), poll() and finish() are collective while a save is pending (pending() is the same on
// every rank, since only these collective calls change it): call them at the same points, in the
// same order, on every rank, from the thread that issues the other collectives. With no save
// pending, poll() and finish() make no collective call. Host-memory communicator only (see
// collective.h).
//
// Thread-safety: not thread-safe; one owner (the training thread). The background thread is
// internal.
class AsyncCheckpointer {
 public:
  AsyncCheckpointer(std::filesystem::path run_dir, AsyncCheckpointOptions options = {});
  // Waits for the background thread's current jobs and deletions (no collective call) and joins
  // it. A save not yet committed is abandoned: its step_<N>.tmp is never loaded and the next save
  // removes it.
  ~AsyncCheckpointer();
  AsyncCheckpointer(const AsyncCheckpointer&) = delete;
  AsyncCheckpointer& operator=(const AsyncCheckpointer&) = delete;

  // Collective. Starts saving step `step`: creates step_<N>.tmp (rank 0; broadcast), then queues
  // `jobs` and returns without waiting for them. `meta` (rank 0's is written) goes into the
  // manifest. When rank 0 cannot create the directory, no job runs and the next poll()/finish()
  // returns that failure on every rank (failures_fatal: begin throws it, on every rank).
  // std::logic_error while a save is pending; std::invalid_argument for a job without a writer or
  // with a name that is not a plain file name (both before any collective call).
  void begin(comm::Communicator& comm, int64_t step, std::vector<FileJob> jobs,
             nlohmann::json meta);
  // Collective while pending(). kPending while some rank is still writing; kCommitted or kFailed
  // once the save is over (then pending() is false); kIdle when no save was pending. Does not wait
  // for the other ranks: each call reads the reduction of the ranks' "written" flags that the
  // previous call issued (asynchronously) and issues the next one, so a save commits at the
  // second poll after the last rank finished writing.
  SaveOutcome poll(comm::Communicator& comm);
  // Collective while pending(). Blocks until this rank's jobs are done, then commits: kCommitted
  // or kFailed (kIdle when no save was pending).
  SaveOutcome finish(comm::Communicator& comm);

  bool pending() const { return pending_; }
  int64_t pendingStep() const { return pending_ ? step_ : -1; }

 private:
  void workerLoop();
  SaveOutcome commitNow(comm::Communicator& comm);
  SaveOutcome failedToBegin();

  std::filesystem::path run_dir_;
  AsyncCheckpointOptions options_;
  bool pending_ = false;           // training thread only
  std::unique_ptr<int32_t> flag_;  // the "written" flag being reduced (training thread only)
  comm::WorkPtr flag_work_;        // that reduction, issued by the previous poll()
  int64_t step_ = -1;
  nlohmann::json meta_;
  std::string failed_to_begin_;  // step 1's error, the same on every rank

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<FileJob> jobs_;                    // guarded by mu_
  std::filesystem::path job_dir_;                // guarded by mu_
  int64_t job_step_ = -1;                        // guarded by mu_
  int rank_ = 0;                                 // guarded by mu_
  bool has_work_ = false;                        // guarded by mu_
  bool stop_ = false;                            // guarded by mu_
  std::vector<std::filesystem::path> removals_;  // guarded by mu_: retention to carry out
  bool removing_ = false;                        // guarded by mu_
  LocalSave result_;                             // written by the worker before done_ is set
  std::atomic<bool> done_{false};
  std::thread worker_;
};

// Decides, identically on every rank, whether a save is due at a step boundary: every
// `every_steps` optimizer steps (0 = off) or when `every_seconds` (0 = off) have passed since the
// previous due save (or since construction), measured on rank 0's clock.
// Thread-safety: not thread-safe; one owner (the training thread).
class SaveSchedule {
 public:
  SaveSchedule(int64_t every_steps, double every_seconds);
  ~SaveSchedule();
  SaveSchedule(const SaveSchedule&) = delete;
  SaveSchedule& operator=(const SaveSchedule&) = delete;
  // Collective when every_seconds > 0 (call it at every step boundary on every rank): rank 0's
  // verdict "every_seconds have passed" is broadcast asynchronously and read at the next call, so
  // ranks never disagree however their clocks drift, nobody waits for rank 0, and a time-based
  // save falls one step after rank 0 saw the time up. No collective otherwise. A true answer
  // restarts the seconds clock. `step` counts completed optimizer steps.
  bool due(comm::Communicator& comm, int64_t step);
  // Restarts the seconds clock (after a save not decided by due(), e.g. on resume).
  void restartClock();

 private:
  int64_t every_steps_;
  double every_seconds_;
  std::chrono::steady_clock::time_point since_;  // rank 0's clock is the one that counts
  std::unique_ptr<int64_t> flag_;                // rank 0's verdict being broadcast
  comm::WorkPtr work_;                           // that broadcast, issued by the previous due()
};

}  // namespace l2face::checkpoint
