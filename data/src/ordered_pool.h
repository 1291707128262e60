// runOrdered: a thread pool over numbered jobs whose results are consumed strictly in job order
// through a bounded reorder window (output independent of the thread count and of timing).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace l2face::data {

// Runs produce(j, worker) for j in [0, jobs) on `threads` threads (the caller is worker 0) and
// consume(j, result) in increasing j, one at a time under a lock. No job starts more than
// `window` jobs ahead of the consumer, so at most `window` results wait in memory. The first
// exception of produce or consume stops the pool (jobs not yet started are not run) and is
// rethrown here after every thread has finished.
template <class Result, class Produce, class Consume>
void runOrdered(size_t jobs, int threads, size_t window, Produce produce, Consume consume) {
  if (threads < 1) threads = 1;
  if (window < 1) window = 1;
  std::mutex mutex;
  std::condition_variable cv;
  size_t next_job = 0, next_consume = 0;
  std::map<size_t, Result> done;
  bool failed = false;
  std::exception_ptr error;
  auto worker = [&](int id) {
    try {
      for (;;) {
        size_t j;
        {
          std::unique_lock<std::mutex> lock(mutex);
          cv.wait(lock, [&] { return failed || next_job < next_consume + window; });
          if (failed || next_job >= jobs) return;
          j = next_job++;
        }
        Result r = produce(j, id);
        std::lock_guard<std::mutex> lock(mutex);
        if (failed) return;
        done.emplace(j, std::move(r));
        for (auto it = done.find(next_consume); it != done.end(); it = done.find(next_consume)) {
          consume(next_consume, it->second);
          done.erase(it);
          ++next_consume;
        }
        cv.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      failed = true;
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace l2face::data
