// The store-backed control communicator: every collective kind against the arithmetic it must
// match, several ranks as threads on a loopback store, bounded keys and the timeout report.
#include "l2face/comm/internal/store_communicator.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

#include "l2face/comm/errors.h"

using namespace l2face::comm;

namespace {

constexpr const char* kToken = "ctl-test";

class StoreComm : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreServerOptions so;
    so.bind_address = "127.0.0.1";
    so.token = kToken;
    server_ = std::make_unique<TcpStoreServer>(so);
  }

  std::shared_ptr<JobStore> connect(int rank) const {
    StoreClientOptions co;
    co.port = server_->port();
    co.token = kToken;
    co.rank = rank;
    co.timeout_seconds = 10;
    auto store = std::make_shared<JobStore>();
    store->client = std::make_shared<TcpStoreClient>(co);
    return store;
  }

  // body(comm) on `size` ranks at once, each a thread with its own client.
  void onRanks(int size, const std::function<void(Communicator&)>& body, double timeout = 10) {
    std::vector<std::thread> threads;
    for (int r = 0; r < size; ++r) {
      threads.emplace_back([&, r] {
        auto comm = makeStoreCommunicator(connect(r), r, size, timeout, "t");
        body(*comm);
      });
    }
    for (auto& t : threads) t.join();
  }

  std::unique_ptr<TcpStoreServer> server_;
};

template <typename T>
T valueAt(int rank, size_t i) {
  return static_cast<T>((rank + 1) * 7 + static_cast<int>(i) * 13 % 50);
}

TEST_F(StoreComm, AllReduceEveryOpAndDtypeMatchesTheArithmetic) {
  constexpr int P = 3;
  constexpr size_t n = 5;
  onRanks(P, [&](Communicator& c) {
    EXPECT_EQ(c.backend(), "store");
    EXPECT_EQ(c.memoryKind(), MemoryKind::kHost);
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin}) {
      std::vector<int64_t> x(n), want(n);
      std::vector<double> d(n), dwant(n);
      for (size_t i = 0; i < n; ++i) {
        x[i] = valueAt<int64_t>(c.rank(), i) - 20;
        d[i] = 0.25 * static_cast<double>(x[i]);
        int64_t acc = valueAt<int64_t>(0, i) - 20;
        for (int r = 1; r < P; ++r) {
          const int64_t v = valueAt<int64_t>(r, i) - 20;
          acc = op == ReduceOp::kMax   ? std::max(acc, v)
                : op == ReduceOp::kMin ? std::min(acc, v)
                                       : acc + v;
        }
        want[i] = op == ReduceOp::kAvg ? acc / P : acc;
        dwant[i] = op == ReduceOp::kAvg ? 0.25 * static_cast<double>(acc) / P
                                        : 0.25 * static_cast<double>(acc);
      }
      c.allReduce(x.data(), n, DType::kInt64, op);
      c.allReduce(d.data(), n, DType::kFloat64, op);
      EXPECT_EQ(x, want) << reduceOpName(op);
      for (size_t i = 0; i < n; ++i) EXPECT_DOUBLE_EQ(d[i], dwant[i]) << reduceOpName(op);
    }
    EXPECT_EQ(c.sequence(), 8u);
  });
}

TEST_F(StoreComm, BroadcastAllGatherReduceScatterAndBarrier) {
  constexpr int P = 3;
  constexpr size_t n = 4;
  onRanks(P, [&](Communicator& c) {
    const int me = c.rank();
    for (int root = 0; root < P; ++root) {
      std::vector<uint8_t> b(n, static_cast<uint8_t>(me == root ? 10 + root : 0));
      c.broadcast(b.data(), n, DType::kUInt8, root);
      EXPECT_EQ(b, std::vector<uint8_t>(n, static_cast<uint8_t>(10 + root)));
    }
    std::vector<float> mine(n), all(n * P);
    for (size_t i = 0; i < n; ++i) mine[i] = valueAt<float>(me, i);
    c.allGather(mine.data(), all.data(), n, DType::kFloat32);
    // In place: the send block aliases this rank's block of recv.
    std::vector<float> inplace(n * P, -1.f);
    std::copy(mine.begin(), mine.end(), inplace.begin() + me * n);
    c.allGather(inplace.data() + me * n, inplace.data(), n, DType::kFloat32);
    for (int r = 0; r < P; ++r) {
      for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(all[r * n + i], valueAt<float>(r, i));
        EXPECT_EQ(inplace[r * n + i], valueAt<float>(r, i));
      }
    }
    std::vector<int32_t> send(n * P), got(n);
    for (size_t k = 0; k < send.size(); ++k) send[k] = valueAt<int32_t>(me, k);
    c.reduceScatter(send.data(), got.data(), n, DType::kInt32, ReduceOp::kSum);
    for (size_t i = 0; i < n; ++i) {
      int32_t want = 0;
      for (int r = 0; r < P; ++r) want += valueAt<int32_t>(r, me * n + i);
      EXPECT_EQ(got[i], want);
    }
    c.barrier();
    EXPECT_EQ(c.sequence(), static_cast<uint64_t>(P + 4));
  });
}

TEST_F(StoreComm, OldKeysAreRemovedSoTheStoreStaysBounded) {
  constexpr int P = 4;
  constexpr uint64_t kCalls = 40;
  onRanks(P, [&](Communicator& c) {
    for (uint64_t s = 0; s < kCalls; ++s) {
      int32_t flag = c.rank() == static_cast<int>(s % P) ? 1 : 0;
      c.allReduce(&flag, 1, DType::kInt32, ReduceOp::kMax);
      ASSERT_EQ(flag, 1);
    }
  });
  auto probe = connect(-1);
  for (uint64_t s = 1; s <= kCalls; ++s) {
    for (int r = 0; r < P; ++r) {
      const bool kept =
          probe->client->tryGet("t/" + std::to_string(s) + "/" + std::to_string(r)).has_value();
      EXPECT_EQ(kept, s == kCalls) << "collective " << s << " rank " << r;
    }
  }
}

TEST_F(StoreComm, AMissingRankIsNamedAfterTheTimeout) {
  auto comm = makeStoreCommunicator(connect(0), 0, 3, 0.3, "t", "hostA");
  int32_t v = 1;
  try {
    comm->allReduce(&v, 1, DType::kInt32, ReduceOp::kSum);
    FAIL() << "no error";
  } catch (const CommError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("allreduce #1 did not complete"), std::string::npos) << m;
    EXPECT_NE(m.find("ranks that did not arrive: [1, 2]"), std::string::npos) << m;
  }
}

TEST_F(StoreComm, RanksDisagreeingOnSizesFail) {
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto comm = makeStoreCommunicator(connect(r), r, 2, 5, "t");
      std::vector<int32_t> x(2 + r, 1);
      try {
        comm->allReduce(x.data(), x.size(), DType::kInt32, ReduceOp::kSum);
      } catch (const CommError& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_NE(e.find("expected"), std::string::npos) << e;
}

}  // namespace
