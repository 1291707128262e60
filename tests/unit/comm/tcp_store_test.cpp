// Tests of the TCP rendezvous store: requests, concurrent clients, timeouts, rejected connections.
#include "l2face/comm/tcp_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <thread>
#include <vector>

#include "l2face/comm/errors.h"
#include "l2face/comm/internal/store_arrival_board.h"
#include "l2face/comm/internal/store_protocol.h"
#include "l2face/comm/internal/watchdog.h"

using namespace l2face::comm;

namespace {

StoreServerOptions serverOptions() {
  StoreServerOptions o;
  o.bind_address = "127.0.0.1";
  o.token = "job-1234";
  o.max_message_bytes = 4096;
  o.hello_timeout_seconds = 0.3;
  return o;
}

StoreClientOptions clientOptions(uint16_t port, std::string token = "job-1234") {
  StoreClientOptions o;
  o.port = port;
  o.token = std::move(token);
  o.timeout_seconds = 5;
  return o;
}

// A raw TCP connection for sending what no well-behaved client sends.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawSocket() { close(fd_); }
  void send(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), 0), (ssize_t)bytes.size());
  }
  // True when the server closed the connection (read returns 0 or a reset) within 5 s.
  bool closedByPeer() {
    char buf[256];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
};

void waitForRejections(const TcpStoreServer& s, uint64_t n) {
  for (int i = 0; i < 200 && s.rejectedConnections() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TEST(TcpStore, SetGetAddWaitRemove) {
  TcpStoreServer server(serverOptions());
  TcpStoreClient c(clientOptions(server.port()));
  c.set("a", std::string("x\0y", 3));
  EXPECT_EQ(c.get("a"), std::string("x\0y", 3));
  EXPECT_FALSE(c.tryGet("missing").has_value());
  EXPECT_EQ(c.add("n", 5), 5);
  EXPECT_EQ(c.add("n", -2), 3);
  EXPECT_EQ(c.get("n"), "3");
  c.wait({"a", "n"}, 1);
  EXPECT_TRUE(c.remove("a"));
  EXPECT_FALSE(c.remove("a"));
  EXPECT_EQ(server.acceptedClients(), 1u);
}

TEST(TcpStore, ConcurrentClientsCountAndMeet) {
  TcpStoreServer server(serverOptions());
  const int n = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      TcpStoreClient c(clientOptions(server.port()));
      c.add("arrived", 1);  // before the set: every key set means every add is done
      c.set("rank/" + std::to_string(r), std::to_string(r * r));
      std::vector<std::string> all;
      for (int k = 0; k < n; ++k) all.push_back("rank/" + std::to_string(k));
      c.wait(all, 5);  // a barrier on the store
      int sum = 0;
      for (int k = 0; k < n; ++k) sum += std::stoi(c.get("rank/" + std::to_string(k)));
      if (sum == 140 && c.get("arrived") == std::to_string(n)) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), n);
  EXPECT_EQ(server.acceptedClients(), static_cast<uint64_t>(n));
}

TEST(TcpStore, GetWaitsForAKeySetLater) {
  TcpStoreServer server(serverOptions());
  TcpStoreClient reader(clientOptions(server.port()));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    TcpStoreClient w(clientOptions(server.port()));
    w.set("late", "here");
  });
  EXPECT_EQ(reader.get("late"), "here");
  writer.join();
}

TEST(TcpStore, WaitTimesOutNamingMissingKeys) {
  TcpStoreServer server(serverOptions());
  TcpStoreClient c(clientOptions(server.port()));
  c.set("present", "1");
  auto t0 = std::chrono::steady_clock::now();
  try {
    c.wait({"present", "absent"}, 0.3);
    FAIL() << "expected a timeout";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("keys [absent] not set"), std::string::npos) << e.what();
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(s, 0.25);
  EXPECT_LT(s, 3.0);
  c.set("after", "1");  // the connection is still usable
  EXPECT_EQ(c.get("after"), "1");
}

TEST(TcpStore, WrongOrMissingTokenIsRejected) {
  TcpStoreServer server(serverOptions());
  EXPECT_THROW(TcpStoreClient(clientOptions(server.port(), "job-9999")), CommError);
  EXPECT_THROW(TcpStoreClient(clientOptions(server.port(), "")), CommError);
  EXPECT_EQ(server.rejectedConnections(), 2u);
  EXPECT_EQ(server.acceptedClients(), 0u);
  TcpStoreClient good(clientOptions(server.port()));  // still serving
  good.set("k", "v");
}

TEST(TcpStore, OversizedGarbageAndSilentConnectionsAreClosed) {
  TcpStoreServer server(serverOptions());
  {
    RawSocket s(server.port());
    s.send(std::string("\xff\xff\xff\x7f", 4));  // a 2 GiB length
    EXPECT_TRUE(s.closedByPeer());
  }
  {
    RawSocket s(server.port());
    s.send(store::Writer(store::Command::kSet).str("k").str("v").frame());  // no hello first
    EXPECT_TRUE(s.closedByPeer());
  }
  {
    RawSocket s(server.port());
    s.send(std::string("\x05\x00\x00\x00\x01\xff\xff\xff\xff", 9));  // hello with a bad string
    EXPECT_TRUE(s.closedByPeer());
  }
  {
    RawSocket s(server.port());  // says nothing: closed after the hello timeout
    EXPECT_TRUE(s.closedByPeer());
  }
  waitForRejections(server, 4);
  EXPECT_EQ(server.rejectedConnections(), 4u);
  TcpStoreClient good(clientOptions(server.port()));
  EXPECT_EQ(good.add("alive", 1), 1);
}

TEST(TcpStore, ClientRetriesUntilTheServerListens) {
  uint16_t port;
  {
    TcpStoreServer probe(serverOptions());  // find a free port, then free it
    port = probe.port();
  }
  std::unique_ptr<TcpStoreServer> server;
  std::thread starter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto o = serverOptions();
    o.port = port;
    server = std::make_unique<TcpStoreServer>(o);
  });
  TcpStoreClient c(clientOptions(port));
  starter.join();
  c.set("k", "v");
  EXPECT_EQ(c.get("k"), "v");
}

TEST(TcpStore, ConnectTimesOutWithoutAServer) {
  uint16_t port;
  {
    TcpStoreServer probe(serverOptions());
    port = probe.port();
  }
  auto o = clientOptions(port);
  o.timeout_seconds = 0.3;
  EXPECT_THROW(TcpStoreClient{o}, CommError);
}

TEST(TcpStore, EnvironmentNamesWhatIsMissing) {
  unsetenv("L2FACE_MASTER_ADDR");
  try {
    storeClientOptionsFromEnvironment(0, 1);
    FAIL();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("L2FACE_MASTER_ADDR"), std::string::npos);
  }
  setenv("L2FACE_MASTER_ADDR", "10.0.0.1", 1);
  setenv("L2FACE_MASTER_PORT", "29500", 1);
  setenv("L2FACE_JOB_TOKEN", "t", 1);
  auto o = storeClientOptionsFromEnvironment(3, 7);
  EXPECT_EQ(o.host, "10.0.0.1");
  EXPECT_EQ(o.port, 29500);
  EXPECT_EQ(o.rank, 3);
  setenv("L2FACE_MASTER_PORT", "99999", 1);
  EXPECT_THROW(storeClientOptionsFromEnvironment(0, 1), CommError);
}

// The store's request decoding and data requests (store_protocol.cpp), which the server runs and
// tests/fuzz/fuzz_store.cpp fuzzes.
TEST(StoreProtocol, RequestsDecodeStrictly) {
  using store::Command;
  const auto parse = [](const store::Writer& w) {
    const std::string f = w.frame();
    return store::parseRequest(f.data() + 4, f.size() - 4);
  };
  const store::Request hello = parse(store::Writer(Command::kHello).str("tok").i32(3));
  EXPECT_EQ(hello.token, "tok");
  EXPECT_EQ(hello.rank, 3);
  const store::Request wait = parse(store::Writer(Command::kWait).u32(2).str("a").str("b").u64(9));
  EXPECT_EQ(wait.keys, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(wait.timeout_ms, 9u);
  // Bytes after the last field, a truncated field, an unknown or reply command.
  EXPECT_THROW(parse(store::Writer(Command::kGet).str("k").u32(0)), store::ProtocolError);
  EXPECT_THROW(parse(store::Writer(Command::kAdd).str("k").u32(1)), store::ProtocolError);
  EXPECT_THROW(parse(store::Writer(Command::kOk)), store::ProtocolError);
  EXPECT_THROW(parse(store::Writer(static_cast<Command>(77))), store::ProtocolError);
  // A WAIT announcing 4 billion keys is refused before anything is reserved for them.
  EXPECT_THROW(parse(store::Writer(Command::kWait).u32(0xffffffffu).str("a").u64(1)),
               store::ProtocolError);
  // Before the hello, frames are capped at 64 KiB whatever the configured maximum.
  EXPECT_EQ(store::frameLimit(false, size_t{64} << 20), store::kMaxHelloBytes);
  EXPECT_EQ(store::frameLimit(false, 1000), 1000u);
  EXPECT_EQ(store::frameLimit(true, size_t{64} << 20), size_t{64} << 20);
}

// ADD used std::stoll and a plain +=: "12abc" counted as 12, and INT64_MAX + 1 was signed
// overflow (undefined behaviour in the server). Both are malformed requests now.
TEST(StoreProtocol, AddIsCheckedAndWaitTimeoutsAreClamped) {
  using store::Command;
  store::Data data;
  bool changed = false;
  store::Request add;
  add.command = Command::kAdd;
  add.key = "n";
  add.delta = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(store::applyRequest(data, add, changed).frame(),
            store::Writer(Command::kValue).str("9223372036854775807").frame());
  EXPECT_TRUE(changed);
  add.delta = 1;
  EXPECT_THROW(store::applyRequest(data, add, changed), store::ProtocolError);
  EXPECT_EQ(data["n"], "9223372036854775807");
  for (const char* bad : {"12abc", " 12", "", "1e3", "99999999999999999999"}) {
    data["n"] = bad;
    EXPECT_THROW(store::applyRequest(data, add, changed), store::ProtocolError) << bad;
  }
  data["n"] = "-5";
  store::applyRequest(data, add, changed);
  EXPECT_EQ(data["n"], "-4");
  // A WAIT of 2^64 - 1 ms overflowed the timer's time point; now it is clamped.
  EXPECT_EQ(store::waitDuration(~uint64_t{0}).count(),
            static_cast<int64_t>(store::kMaxWaitMilliseconds));
  EXPECT_EQ(store::waitDuration(1500).count(), 1500);
}

TEST(TcpStore, MalformedAddClosesOnlyThatConnection) {
  TcpStoreServer server(serverOptions());
  TcpStoreClient a(clientOptions(server.port())), b(clientOptions(server.port()));
  a.set("text", "not a number");
  EXPECT_THROW(a.add("text", 1), CommError);
  EXPECT_EQ(b.add("n", std::numeric_limits<int64_t>::max()), std::numeric_limits<int64_t>::max());
  EXPECT_THROW(b.add("n", 1), CommError);
  TcpStoreClient c(clientOptions(server.port()));
  EXPECT_EQ(c.get("n"), "9223372036854775807");
  EXPECT_EQ(server.rejectedConnections(), 2u);
}

TEST(TcpStore, ServerNeedsAToken) {
  auto o = serverOptions();
  o.token = "";
  EXPECT_THROW(TcpStoreServer{o}, CommError);
}

TEST(StoreArrivalBoard, ShowsWhichRanksReachedACollective) {
  TcpStoreServer server(serverOptions());
  auto c0 = std::make_shared<TcpStoreClient>(clientOptions(server.port()));
  auto c1 = std::make_shared<TcpStoreClient>(clientOptions(server.port()));
  StoreArrivalBoard b0(c0, 0, 3), b1(c1, 1, 3);  // rank 2 never posts
  b0.arrive(4, CollectiveKind::kBarrier);
  b0.arrive(5, CollectiveKind::kAllReduce);  // bursts coalesce; the latest wins
  b1.arrive(4, CollectiveKind::kAllReduce);
  std::vector<Arrival> a;
  for (int i = 0; i < 200; ++i) {  // the publisher threads write asynchronously
    a = b0.read(1);
    if (a.size() == 3 && a[0].sequence == 5 && a[1].sequence == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].op, static_cast<int>(CollectiveKind::kAllReduce));
  EXPECT_EQ(ranksNotArrived(5, a), (std::vector<int>{1, 2}));
  EXPECT_EQ(ranksNotArrived(4, a), (std::vector<int>{2}));
}
