// Work handles for host backends: one completed at once, one completed later by a comm thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

// Already complete (the local backend, zero-sized collectives).
class CompletedWork final : public Work {
 public:
  bool done() override { return true; }
  void wait() override {}
};

// Completed by another thread with complete() or fail(). Waiters block at once instead of
// spinning: the completing thread is this process's comm thread, and a spinning waiter would take
// the core it needs (on 2 cores with 2 ranks, spinning doubled the small-collective latency).
class HostWork final : public Work {
 public:
  bool done() override { return done_.load(std::memory_order_acquire); }

  void wait() override {
    if (!done()) {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return done(); });
    }
    if (error_) std::rethrow_exception(error_);
  }

  // Once done: from started() (when the backend called it) to completion.
  double seconds() const override {
    if (!done_.load(std::memory_order_acquire) || !started_) return -1;
    return std::chrono::duration<double>(finished_at_ - started_at_).count();
  }

  // The backend begins running the collective (before complete() or fail(), same thread).
  void started() {
    started_at_ = Clock::now();
    started_ = true;
  }
  void complete() { finish(nullptr); }
  void fail(std::exception_ptr error) { finish(std::move(error)); }

 private:
  using Clock = std::chrono::steady_clock;

  void finish(std::exception_ptr error) {
    finished_at_ = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::move(error);  // written before done_ is released, read after it is acquired
      done_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }

  std::atomic<bool> done_{false};
  std::exception_ptr error_;
  // Written by the completing thread before done_ is released.
  Clock::time_point started_at_, finished_at_;
  bool started_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace l2face::comm
