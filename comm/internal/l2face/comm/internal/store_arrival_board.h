// The arrival board on the TCP store, for jobs launched without MPI.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "l2face/comm/tcp_store.h"
#include "watchdog.h"

namespace l2face::comm {

// arrive() records the latest collective and wakes a publisher thread that writes it to the key
// "l2face/arrive/<rank>" (coalescing bursts: only the latest value is sent); read() fetches every
// rank's key. The store server runs in its own thread on rank 0, so it answers even when rank 0's
// training thread is stuck. Thread-safety: all methods thread-safe.
class StoreArrivalBoard final : public ArrivalBoard {
 public:
  StoreArrivalBoard(std::shared_ptr<TcpStoreClient> client, int rank, int size);
  ~StoreArrivalBoard() override;
  void arrive(uint64_t sequence, CollectiveKind op) override;
  std::vector<Arrival> read(double budget_seconds) override;

 private:
  void publish();

  std::shared_ptr<TcpStoreClient> client_;
  int rank_;
  int size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t latest_ = 0;
  int latest_op_ = 0;
  bool dirty_ = false;  // an arrival not yet published (the arrival at init has sequence 0)
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace l2face::comm
