// AsyncCheckpointer (background writing, commit on the training thread) and SaveSchedule.
#include "l2face/checkpoint/async.h"

#include <stdexcept>

#include "publish.h"

namespace fs = std::filesystem;

namespace l2face::checkpoint {
namespace {

using Clock = std::chrono::steady_clock;

// This rank's part of a save (protocol step 2), on the background thread: run the writers, then
// fsync and checksum. Never throws; no collective call.
LocalSave writeAndSeal(const fs::path& dir, std::vector<FileJob>& jobs, const FaultPlan& faults,
                       int rank, int64_t step) {
  const auto t0 = Clock::now();
  if (const Fault* f = faults.find("checkpoint.slow_write", rank, step)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(f->value));
  }
  std::vector<std::string> names;
  for (FileJob& job : jobs) {
    try {
      job.write(dir / job.name);
    } catch (const std::exception& e) {
      return LocalSave{false,
                       "writing " + (dir / job.name).string() + ": " + e.what(),
                       {},
                       std::chrono::duration<double>(Clock::now() - t0).count()};
    } catch (...) {
      return LocalSave{false,
                       "writing " + (dir / job.name).string() + ": unknown exception",
                       {},
                       std::chrono::duration<double>(Clock::now() - t0).count()};
    }
    names.push_back(job.name);
  }
  LocalSave s = sealFiles(dir, names);
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return s;
}

}  // namespace

AsyncCheckpointer::AsyncCheckpointer(fs::path run_dir, AsyncCheckpointOptions options)
    : run_dir_(std::move(run_dir)),
      options_(std::move(options)),
      flag_(std::make_unique<int32_t>(0)) {
  worker_ = std::thread([this] { workerLoop(); });
}

AsyncCheckpointer::~AsyncCheckpointer() {
  // A reduction still in flight writes into flag_ when it completes: leave it the memory.
  if (flag_work_ && !flag_work_->done()) (void)flag_.release();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void AsyncCheckpointer::workerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || has_work_ || !removals_.empty(); });
    if (!removals_.empty()) {  // retention of the last commit, off the training thread
      std::vector<fs::path> victims = std::move(removals_);
      removals_.clear();
      removing_ = true;
      lock.unlock();
      detail::removePaths(victims);
      lock.lock();
      removing_ = false;
      cv_.notify_all();
      continue;
    }
    if (has_work_) {
      std::vector<FileJob> jobs = std::move(jobs_);
      const fs::path dir = job_dir_;
      const int rank = rank_;
      const int64_t step = job_step_;
      has_work_ = false;
      lock.unlock();
      LocalSave s = writeAndSeal(dir, jobs, options_.commit.faults, rank, step);
      jobs.clear();  // release the snapshot as soon as it is on disk
      lock.lock();
      result_ = std::move(s);
      done_.store(true, std::memory_order_release);
      cv_.notify_all();
      continue;
    }
    if (stop_) return;
  }
}

void AsyncCheckpointer::begin(comm::Communicator& comm, int64_t step, std::vector<FileJob> jobs,
                              nlohmann::json meta) {
  if (pending_) {
    throw std::logic_error("AsyncCheckpointer::begin(step " + std::to_string(step) +
                           ") while the save of step " + std::to_string(step_) +
                           " is pending: call finish() first");
  }
  for (const FileJob& j : jobs) {
    if (!j.write) throw std::invalid_argument("FileJob '" + j.name + "' has no writer");
    try {
      detail::checkFileName(j.name);
    } catch (const CheckpointError& e) {
      throw std::invalid_argument(e.what());
    }
  }
  {
    // The previous commit's retention must be done before a new .tmp exists (it may remove a
    // stale one of the same name). Usually long done: saves are far apart.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return removals_.empty() && !removing_; });
  }
  step_ = step;
  fs::path tmp;
  try {
    tmp = beginCollectiveSave(comm, run_dir_, step);  // step 1, collective
  } catch (const CheckpointError& e) {
    // Every rank got the same error from rank 0's broadcast: the save is over before it started.
    if (options_.failures_fatal) throw;
    failed_to_begin_ = e.what();
    pending_ = true;
    return;
  }
  meta_ = std::move(meta);
  pending_ = true;
  done_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_ = std::move(jobs);
    job_dir_ = tmp;
    job_step_ = step;
    rank_ = comm.rank();
    has_work_ = true;
  }
  cv_.notify_all();
}

SaveOutcome AsyncCheckpointer::failedToBegin() {
  SaveOutcome o;
  o.status = SaveStatus::kFailed;
  o.step = step_;
  o.error = std::move(failed_to_begin_);
  failed_to_begin_.clear();
  pending_ = false;
  return o;
}

SaveOutcome AsyncCheckpointer::commitNow(comm::Communicator& comm) {
  LocalSave mine;
  {
    std::lock_guard<std::mutex> lock(mu_);
    mine = std::move(result_);
    result_ = LocalSave{};
  }
  pending_ = false;               // whatever happens next, this save is over
  std::vector<fs::path> victims;  // rank 0: retention, deleted by the background thread
  SaveOutcome o =
      detail::agreeAndCommit(comm, run_dir_, step_, mine, meta_, options_.commit, &victims);
  meta_ = nlohmann::json();
  if (!victims.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    removals_.insert(removals_.end(), victims.begin(), victims.end());
    cv_.notify_all();
  }
  if (o.failed() && options_.failures_fatal) throw CheckpointError(o.error);
  return o;
}

SaveOutcome AsyncCheckpointer::poll(comm::Communicator& comm) {
  if (!pending_) return SaveOutcome{};
  if (!failed_to_begin_.empty()) return failedToBegin();  // the same on every rank: no collective
  // The "written" flags are reduced asynchronously and read one poll later, so the training
  // thread does not wait for the other ranks here. The wait below is for a reduction issued at the
  // previous step boundary (normally long complete); its result, not this rank's timing, decides,
  // so every rank decides alike.
  if (flag_work_) {
    flag_work_->wait();
    flag_work_.reset();
    if (*flag_ == 1) return commitNow(comm);
  }
  *flag_ = done_.load(std::memory_order_acquire) ? 1 : 0;
  flag_work_ = comm.allReduceAsync(flag_.get(), 1, comm::DType::kInt32, comm::ReduceOp::kMin);
  SaveOutcome o;
  o.status = SaveStatus::kPending;
  o.step = step_;
  return o;
}

SaveOutcome AsyncCheckpointer::finish(comm::Communicator& comm) {
  if (!pending_) return SaveOutcome{};
  if (!failed_to_begin_.empty()) return failedToBegin();
  if (flag_work_) {  // every rank issued it at the same poll: complete it, the result is moot
    flag_work_->wait();
    flag_work_.reset();
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_.load(std::memory_order_acquire); });
  }
  return commitNow(comm);  // the agreement's allgather waits for the slower ranks
}

SaveSchedule::SaveSchedule(int64_t every_steps, double every_seconds)
    : every_steps_(every_steps),
      every_seconds_(every_seconds),
      since_(Clock::now()),
      flag_(std::make_unique<int64_t>(0)) {}

SaveSchedule::~SaveSchedule() {
  // A broadcast still in flight writes into flag_ when it completes: leave it the memory.
  if (work_ && !work_->done()) (void)flag_.release();
}

void SaveSchedule::restartClock() { since_ = Clock::now(); }

bool SaveSchedule::due(comm::Communicator& comm, int64_t step) {
  bool is_due = every_steps_ > 0 && step > 0 && step % every_steps_ == 0;
  if (every_seconds_ <= 0) {
    if (is_due) since_ = Clock::now();
    return is_due;
  }
  if (comm.memoryKind() != comm::MemoryKind::kHost) {
    throw CheckpointError("SaveSchedule with every_seconds needs a host-memory communicator, got " +
                          comm.backend());
  }
  // Rank 0's verdict of the previous call, broadcast asynchronously then and read now: every rank
  // reads the same value, and no rank waits at the step boundary for rank 0.
  if (work_) {
    work_->wait();
    work_.reset();
    is_due = is_due || *flag_ != 0;
  }
  if (is_due) since_ = Clock::now();
  *flag_ = comm.rank() == 0 &&
                   std::chrono::duration<double>(Clock::now() - since_).count() >= every_seconds_
               ? 1
               : 0;
  work_ = comm.broadcastAsync(flag_.get(), 1, comm::DType::kInt64, 0);
  return is_due;
}

}  // namespace l2face::checkpoint
