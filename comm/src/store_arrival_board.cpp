// The store-backed arrival board: a publisher thread writes this rank's latest collective.
#include "l2face/comm/internal/store_arrival_board.h"

#include <sstream>
#include <string>

namespace l2face::comm {

namespace {
std::string key(int rank) { return "l2face/arrive/" + std::to_string(rank); }
}  // namespace

StoreArrivalBoard::StoreArrivalBoard(std::shared_ptr<TcpStoreClient> client, int rank, int size)
    : client_(std::move(client)), rank_(rank), size_(size) {
  thread_ = std::thread([this] { publish(); });
}

StoreArrivalBoard::~StoreArrivalBoard() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StoreArrivalBoard::arrive(uint64_t sequence, CollectiveKind op) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    latest_ = sequence;
    latest_op_ = static_cast<int>(op);
    dirty_ = true;
  }
  cv_.notify_one();
}

void StoreArrivalBoard::publish() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || dirty_; });
    if (stop_) return;
    uint64_t seq = latest_;
    int op = latest_op_;
    dirty_ = false;
    lock.unlock();
    try {
      client_->set(key(rank_), std::to_string(seq) + " " + std::to_string(op));
    } catch (const std::exception&) {
      // The board is diagnostics only; a lost store must not fail training.
    }
    lock.lock();
  }
}

std::vector<Arrival> StoreArrivalBoard::read(double /*budget_seconds*/) {
  std::vector<Arrival> out;
  try {
    for (int r = 0; r < size_; ++r) {
      Arrival a;
      a.rank = r;
      if (auto v = client_->tryGet(key(r))) {
        std::istringstream s(*v);
        s >> a.sequence >> a.op;
      }
      out.push_back(a);
    }
  } catch (const std::exception&) {
    return {};  // store unreachable: the report says "unknown"
  }
  return out;
}

}  // namespace l2face::comm
