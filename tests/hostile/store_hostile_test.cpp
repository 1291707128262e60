// Hostile clients against the real TCP rendezvous store: wrong or missing job tokens, oversized
// frames, silent connection floods, duplicate ranks and connections after the rendezvous. Each is
// rejected and logged; the job's own clients keep working and their requests stay fast.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "hostile_util.h"
#include "l2face/comm/errors.h"
#include "l2face/comm/internal/store_protocol.h"
#include "l2face/comm/tcp_store.h"

using namespace l2face::comm;
using namespace l2face::hostile;
using store::Command;
using store::Writer;

namespace {

constexpr const char* kToken = "0123456789abcdef-job";

StoreServerOptions serverOptions(int world_size) {
  StoreServerOptions o;
  o.bind_address = "127.0.0.1";
  o.token = kToken;
  o.world_size = world_size;
  o.hello_timeout_seconds = 2;
  return o;
}

StoreClientOptions clientOptions(uint16_t port, int rank, std::string token = kToken) {
  StoreClientOptions o;
  o.port = port;
  o.token = std::move(token);
  o.rank = rank;
  o.timeout_seconds = 10;
  return o;
}

// A job's rank doing store requests in a loop (as the arrival board does), timing each.
class Rank {
 public:
  Rank(uint16_t port, int rank)
      : client_(clientOptions(port, rank)), rank_(rank), thread_([this] { run(); }) {}
  ~Rank() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t requests() const { return requests_; }
  double worstSeconds() const { return worst_; }
  TcpStoreClient& client() { return client_; }

 private:
  void run() {
    while (!stop_) {
      const auto t0 = Clock::now();
      client_.set("l2face/arrive/" + std::to_string(rank_), std::to_string(requests_.load()));
      client_.add("l2face/progress", 1);
      worst_ = std::max(worst_.load(), secondsSince(t0));
      ++requests_;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  TcpStoreClient client_;
  int rank_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> requests_{0};
  std::atomic<double> worst_{0};
  std::thread thread_;
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

void waitForRejections(const TcpStoreServer& s, uint64_t n, double seconds = 10) {
  const auto t0 = Clock::now();
  while (s.rejectedConnections() < n && secondsSince(t0) < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TEST(StoreHostile, WrongMissingTokensAndOversizedFramesAreRejectedAndLogged) {
  TcpStoreServer server(serverOptions(/*world_size=*/3));
  Rank r0(server.port(), 0);
  testing::internal::CaptureStderr();
  try {
    TcpStoreClient bad(clientOptions(server.port(), 1, "not-the-token"));
    ADD_FAILURE() << "a wrong token was accepted";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("wrong job token"), std::string::npos) << e.what();
  }
  try {
    TcpStoreClient bad(clientOptions(server.port(), 1, ""));
    ADD_FAILURE() << "a missing token was accepted";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("missing job token"), std::string::npos) << e.what();
  }
  // Raw frames: a 1 GiB length; a 1 MiB hello (over the 64 KiB pre-hello limit); a request
  // before the hello; a hello that does not parse; a hello with bytes after its fields.
  const std::vector<std::string> frames = {
      std::string("\x00\x00\x00\x40", 4),
      Writer(Command::kHello).str(std::string(1 << 20, 't')).i32(1).frame(),
      Writer(Command::kSet).str("l2face/nccl/unique_id").str("forged").frame(),
      std::string("\x05\x00\x00\x00\x01\xff\xff\xff\xff", 9),
      Writer(Command::kHello).str(kToken).i32(1).u32(7).frame(),
  };
  for (const auto& f : frames) {
    RawClient c(server.port());
    c.send(f);
    EXPECT_TRUE(c.waitClosed(5));
  }
  waitForRejections(server, 7);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(server.rejectedConnections(), 7u);
  EXPECT_EQ(count(log, "[l2face] store: "), 7u) << log;
  EXPECT_NE(log.find("wrong job token"), std::string::npos) << log;
  EXPECT_NE(log.find("missing job token"), std::string::npos) << log;
  EXPECT_NE(log.find("bytes (limit 65536 before the hello)"), std::string::npos) << log;
  EXPECT_NE(log.find("first message is not a hello"), std::string::npos) << log;
  EXPECT_NE(log.find("bytes after the last field"), std::string::npos) << log;
  EXPECT_NE(log.find("127.0.0.1:"), std::string::npos) << "the peer's address is logged: " << log;
  // The forged SET never landed; the job's rank went on, its requests as fast as ever.
  EXPECT_FALSE(r0.client().tryGet("l2face/nccl/unique_id").has_value());
  const int64_t before = r0.requests();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(r0.requests(), before + 5);
  EXPECT_LT(r0.worstSeconds(), 1.0 * kSlowdown);
  EXPECT_EQ(server.acceptedClients(), 1u);
}

TEST(StoreHostile, OversizedFrameAfterTheHelloClosesOnlyThatConnection) {
  auto o = serverOptions(0);
  o.max_message_bytes = 1 << 20;
  TcpStoreServer server(o);
  TcpStoreClient good(clientOptions(server.port(), 0));
  RawClient c(server.port());
  c.send(Writer(Command::kHello).str(kToken).i32(1).frame());
  c.send(Writer(Command::kSet).str("k").str(std::string(2 << 20, 'v')).frame());
  EXPECT_TRUE(c.waitClosed(5));
  good.set("still", "works");
  EXPECT_EQ(good.get("still"), "works");
  EXPECT_EQ(server.rejectedConnections(), 1u);
}

TEST(StoreHostile, SilentFloodDoesNotLockARankOutOrBlockTheJob) {
  const uint64_t limit = raiseDescriptorLimit(4096);
  ASSERT_GE(limit, 1200u);
  TcpStoreServer server(serverOptions(/*world_size=*/2));
  Rank r0(server.port(), 0);
  testing::internal::CaptureStderr();
  const uint64_t rss_before = residentBytes();
  // 1000 connections that never say hello (each holds a pending slot until the 2 s hello timeout
  // or until a newer one pushes it out), half of them announcing a 64 KiB hello they never send.
  std::vector<RawClient> flood(1000);
  for (size_t i = 0; i < flood.size(); ++i) {
    ASSERT_TRUE(flood[i].open(server.port()));
    if (i % 2) flood[i].send(std::string("\x00\x00\x01\x00", 4));
  }
  // Rank 1 arrives in the middle of the flood and gets in.
  const auto t0 = Clock::now();
  Rank r1(server.port(), 1);
  const double join_seconds = secondsSince(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const uint64_t rss_peak = residentBytes();
  size_t closed = 0;
  for (auto& c : flood) closed += c.waitClosed(3);
  const std::string log = testing::internal::GetCapturedStderr();
  r0.stop();
  r1.stop();
  EXPECT_EQ(closed, flood.size());
  EXPECT_LT(join_seconds, 3.0 * kSlowdown);
  EXPECT_EQ(server.acceptedClients(), 2u);
  EXPECT_GE(server.rejectedConnections(), 1000u);
  // The job's requests stayed fast.
  EXPECT_GT(r0.requests(), 50 / kSlowdown);
  EXPECT_LT(r0.worstSeconds(), 1.0 * kSlowdown);
  EXPECT_EQ(std::stoll(r0.client().tryGet("l2face/progress").value_or("0")),
            r0.requests() + r1.requests());
  // The log says what happened without a line per connection.
  EXPECT_LE(count(log, "[l2face] store: "), 21u) << log;
  EXPECT_NE(log.find("not logged"), std::string::npos) << log;
  if (!kSanitized) {
    EXPECT_LT(rss_peak - rss_before, uint64_t{32} << 20);
  }
  std::printf(
      "[ store flood ] 1000 silent connections: rank 1 joined in %.3f s; job requests: "
      "%lld, worst %.3f s; RSS +%.1f MiB\n",
      join_seconds, static_cast<long long>(r0.requests()), r0.worstSeconds(),
      (rss_peak - rss_before) / 1048576.0);
}

TEST(StoreHostile, DuplicateRanksAndLateConnectionsAreRefused) {
  TcpStoreServer server(serverOptions(/*world_size=*/2));
  testing::internal::CaptureStderr();
  Rank r0(server.port(), 0);
  auto expectRefused = [&](int rank, const std::string& why) {
    auto o = clientOptions(server.port(), rank);
    o.timeout_seconds = 2;
    try {
      TcpStoreClient c(o);
      ADD_FAILURE() << "rank " << rank << " was let in";
    } catch (const CommError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  expectRefused(0, "rank 0 already connected from 127.0.0.1:");
  expectRefused(5, "rank 5 outside the job's [0, 2)");
  expectRefused(-1, "outside the job's [0, 2)");
  Rank r1(server.port(), 1);  // the rendezvous is complete
  // Anyone else, with the right token or not, is told so and closed without being read.
  for (int i = 0; i < 3; ++i) {
    RawClient c(server.port());
    ASSERT_TRUE(c.waitClosed(5));
    EXPECT_EQ(c.received(), Writer(Command::kError).str("rendezvous complete").frame());
  }
  {
    RawClient c(server.port());
    c.send(Writer(Command::kHello).str(kToken).i32(1).frame());
    EXPECT_TRUE(c.waitClosed(5));
  }
  waitForRejections(server, 7);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(server.rejectedConnections(), 7u);
  EXPECT_EQ(count(log, "the rendezvous is complete (all 2 ranks connected)"), 4u) << log;
  EXPECT_EQ(count(log, "already connected"), 1u) << log;
  r1.client().set("l2face/nccl/unique_id", "id");
  EXPECT_EQ(r0.client().get("l2face/nccl/unique_id"), "id");
  EXPECT_EQ(server.acceptedClients(), 2u);
}
