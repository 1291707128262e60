// The store-backed host communicator: keyed posts per sequence number, results computed locally.
#include "l2face/comm/internal/store_communicator.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "l2face/comm/internal/reduce_kernels.h"
#include "l2face/comm/internal/watchdog.h"
#include "work.h"

namespace l2face::comm {

std::shared_ptr<JobStore> openJobStore(const RunContext& ctx, double timeout_seconds) {
  auto store = std::make_shared<JobStore>();
  StoreClientOptions co = storeClientOptionsFromEnvironment(ctx.rank, timeout_seconds);
  if (ctx.rank == 0) {
    StoreServerOptions so;
    so.port = co.port;
    so.token = co.token;
    so.world_size = ctx.world_size;  // one connection per rank; later ones are refused
    store->server = std::make_unique<TcpStoreServer>(so);
  }
  store->client = std::make_shared<TcpStoreClient>(co);
  return store;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kFirstPoll = std::chrono::microseconds(20);
constexpr auto kLongestPoll = std::chrono::milliseconds(2);

class StoreCommunicator final : public Communicator {
 public:
  StoreCommunicator(std::shared_ptr<JobStore> store, int rank, int size, double timeout_seconds,
                    std::string prefix, std::string host)
      : store_(std::move(store)),
        rank_(rank),
        size_(size),
        timeout_seconds_(timeout_seconds),
        prefix_(std::move(prefix)),
        host_(std::move(host)) {
    if (!store_ || !store_->client) throw CommError("store communicator: no store");
    if (size_ < 1 || rank_ < 0 || rank_ >= size_) {
      throw CommError("store communicator: rank " + std::to_string(rank_) + " of " +
                      std::to_string(size_));
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "store"; }
  uint64_t sequence() const override { return sequence_; }

 protected:
  WorkPtr launch(const Collective& c) override {
    const uint64_t seq = ++sequence_;
    store_->client->set(key(seq, rank_), payload(c));
    const std::vector<std::string> posts = gather(c, seq);
    // Every rank has posted #seq, so every rank is done reading #seq-1: this rank's old key goes.
    if (seq > 1) store_->client->remove(key(seq - 1, rank_));
    combine(c, posts);
    return std::make_shared<CompletedWork>();
  }

 private:
  std::string key(uint64_t seq, int rank) const {
    return prefix_ + "/" + std::to_string(seq) + "/" + std::to_string(rank);
  }

  // What this rank contributes: its send bytes (a broadcast's root only; a barrier nothing).
  std::string payload(const Collective& c) const {
    size_t bytes = c.sendBytes(size_);
    if (c.kind == CollectiveKind::kBroadcast && c.root != rank_) bytes = 0;
    return std::string(static_cast<const char*>(c.send), bytes);
  }

  size_t expectedBytes(const Collective& c, int rank) const {
    if (c.kind == CollectiveKind::kBroadcast && c.root != rank) return 0;
    return c.sendBytes(size_);
  }

  // Every rank's post of #seq, polling with a growing pause; CommError after the timeout.
  std::vector<std::string> gather(const Collective& c, uint64_t seq) {
    std::vector<std::string> posts(static_cast<size_t>(size_));
    std::vector<bool> have(posts.size(), false);
    posts[rank_] = payload(c);
    have[rank_] = true;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(timeout_seconds_));
    auto pause = std::chrono::duration_cast<Clock::duration>(kFirstPoll);
    for (int r = 0; r < size_;) {
      if (have[r]) {
        ++r;
        continue;
      }
      if (auto v = store_->client->tryGet(key(seq, r))) {
        posts[r] = std::move(*v);
        have[r] = true;
        continue;
      }
      if (Clock::now() > deadline) timedOut(c, seq, have);
      std::this_thread::sleep_for(pause);
      pause = std::min<Clock::duration>(pause * 2, kLongestPoll);
    }
    for (int r = 0; r < size_; ++r) {
      if (posts[r].size() != expectedBytes(c, r)) {
        throw CommError("rank " + std::to_string(r) + " posted " + std::to_string(posts[r].size()) +
                            " bytes, expected " + std::to_string(expectedBytes(c, r)) +
                            " (ranks disagree on the collectives' order or sizes)",
                        c.name(), seq, rank_, host_);
      }
    }
    return posts;
  }

  [[noreturn]] void timedOut(const Collective& c, uint64_t seq, const std::vector<bool>& have) {
    std::vector<Arrival> arrivals;
    for (int r = 0; r < size_; ++r) {
      arrivals.push_back(Arrival{r, have[r] ? seq : seq - 1, static_cast<int>(c.kind), true});
    }
    throw CommError(formatTimeoutMessage(rank_, host_, c.kind, seq, timeout_seconds_, arrivals));
  }

  // The collective's result in recv, from every rank's post (reductions in rank order).
  void combine(const Collective& c, const std::vector<std::string>& posts) const {
    const size_t block = c.count * dtypeBytes(c.dtype);
    switch (c.kind) {
      case CollectiveKind::kAllReduce:
        reduceBlocks(c, posts, 0, c.recv);
        break;
      case CollectiveKind::kBroadcast:
        if (block > 0) std::memmove(c.recv, posts[c.root].data(), block);
        break;
      case CollectiveKind::kAllGather:
        for (int r = 0; r < size_; ++r) {
          if (block > 0)
            std::memmove(static_cast<char*>(c.recv) + r * block, posts[r].data(), block);
        }
        break;
      case CollectiveKind::kReduceScatter:
        reduceBlocks(c, posts, static_cast<size_t>(rank_) * block, c.recv);
        break;
      case CollectiveKind::kBarrier:
        break;
    }
  }

  // out = the reduction over ranks of the block at `offset` bytes of each post.
  void reduceBlocks(const Collective& c, const std::vector<std::string>& posts, size_t offset,
                    void* out) const {
    const size_t block = c.count * dtypeBytes(c.dtype);
    if (block == 0) return;
    std::string acc = posts[0].substr(offset, block);
    for (int r = 1; r < size_; ++r) {
      reduceInto(acc.data(), posts[r].data() + offset, c.count, c.dtype, c.op);
    }
    if (c.op == ReduceOp::kAvg) finishAverage(acc.data(), c.count, c.dtype, size_);
    std::memcpy(out, acc.data(), block);
  }

  std::shared_ptr<JobStore> store_;
  int rank_;
  int size_;
  double timeout_seconds_;
  std::string prefix_;
  std::string host_;
  uint64_t sequence_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> makeStoreCommunicator(std::shared_ptr<JobStore> store, int rank,
                                                    int size, double timeout_seconds,
                                                    std::string prefix, std::string host) {
  return std::make_unique<StoreCommunicator>(std::move(store), rank, size, timeout_seconds,
                                             std::move(prefix), std::move(host));
}

}  // namespace l2face::comm
