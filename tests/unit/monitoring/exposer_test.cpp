// Tests of the HTTP exposer: routes, status codes, limits, timeouts, connection cap, port clashes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "l2face/monitoring/exposer.h"

using namespace l2face::monitoring;

namespace {

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Sends raw bytes, reads until the server closes (or 3 s pass).
std::string rawExchange(int port, const std::string& request) {
  int fd = connectTo(port);
  if (fd < 0) return "<connect failed>";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::string get(int port, const std::string& path, const std::string& method = "GET") {
  return rawExchange(port, method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

std::shared_ptr<Registry> registryWithOneCounter() {
  auto r = std::make_shared<Registry>();
  BuildCounter().Name("l2face_steps_total").Help("steps").Register(*r).Add({{"rank", "0"}}).Increment(7);
  return r;
}

}  // namespace

TEST(Exposer, ServesMetricsAndHealth) {
  Exposer e(ExposerOptions{}, registryWithOneCounter());
  ASSERT_GT(e.port(), 0);
  std::string m = get(e.port(), "/metrics");
  EXPECT_NE(m.find("HTTP/1.1 200"), std::string::npos) << m;
  EXPECT_NE(m.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << m;
  EXPECT_NE(m.find("l2face_steps_total{rank=\"0\"} 7\n"), std::string::npos) << m;
  EXPECT_NE(get(e.port(), "/healthz").find("200 OK"), std::string::npos);
  e.setHealthCheck([] { return false; });
  EXPECT_NE(get(e.port(), "/healthz").find("503"), std::string::npos);
  EXPECT_NE(get(e.port(), "/nope").find("404"), std::string::npos);
  std::string post = get(e.port(), "/metrics", "POST");
  EXPECT_NE(post.find("405"), std::string::npos) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;
  EXPECT_EQ(e.stats().requests, 2u);
}

TEST(Exposer, HostileInputIsRejectedAndServingContinues) {
  ExposerOptions o;
  o.read_timeout_ms = 300;
  o.max_header_bytes = 1024;
  Exposer e(o, registryWithOneCounter());
  std::string huge = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n";
  EXPECT_NE(rawExchange(e.port(), huge).find("400"), std::string::npos);
  // A TLS hello's first bytes (with a NUL), then garbage. The length is the literal's own: a
  // fixed 24 read past its 18 bytes (AddressSanitizer, scripts/sanitize.sh address unit).
  static const char kTlsGarbage[] = "\x16\x03\x01\x00\xff garbage \r\n\r\n";
  rawExchange(e.port(), std::string(kTlsGarbage, sizeof kTlsGarbage - 1));
  // Slowloris: half a request line, then silence; the server drops it after the timeout.
  auto t0 = std::chrono::steady_clock::now();
  rawExchange(e.port(), "GET /metr");
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 2.5);
  EXPECT_NE(get(e.port(), "/metrics").find("200 OK"), std::string::npos);
  EXPECT_GE(e.stats().rejected, 2u);
}

TEST(Exposer, ConnectionCapClosesTheLongestWaitingConnection) {
  ExposerOptions o;
  o.max_connections = 2;
  o.read_timeout_ms = 2000;
  Exposer e(o, registryWithOneCounter());
  int a = connectTo(e.port());
  ASSERT_GE(a, 0);
  usleep(100000);
  int b = connectTo(e.port());
  ASSERT_GE(b, 0);
  usleep(100000);
  // A third connection is over the cap: the one that has waited longest for its request (a) is
  // closed to make room, so a scraper is answered even while idle connections hold every slot.
  EXPECT_NE(get(e.port(), "/metrics").find("200 OK"), std::string::npos);
  char buf[16];
  EXPECT_LE(::recv(a, buf, sizeof buf, 0), 0);  // closed: end of stream or reset
  EXPECT_EQ(e.stats().evicted, 1u);
  ::close(a);
  ::close(b);
}

TEST(Exposer, HeadAnswersHeadersOnlySoKeepAliveStaysInStep) {
  Exposer e(ExposerOptions{}, registryWithOneCounter());
  // HEAD then GET on one connection: the HEAD answer must carry no body, or its bytes would be
  // read as the start of the GET's answer.
  const std::string both = rawExchange(
      e.port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                "Connection: close\r\n\r\n");
  const size_t second = both.find("HTTP/1.1", 1);
  ASSERT_NE(second, std::string::npos) << both;
  const std::string head = both.substr(0, second);
  EXPECT_NE(head.find("Content-Length: "), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << "HEAD answer with a body: " << head;
  EXPECT_EQ(head.find("l2face_steps_total"), std::string::npos) << head;
  EXPECT_NE(both.substr(second).find("ok\n"), std::string::npos) << both;
}

TEST(Exposer, RejectsLimitsThatCannotWork) {
  ExposerOptions o;
  o.max_connections = 0;
  EXPECT_THROW(Exposer(o, registryWithOneCounter()), MetricsError);
  o = ExposerOptions{};
  o.read_timeout_ms = 0;
  EXPECT_THROW(Exposer(o, registryWithOneCounter()), MetricsError);
}

TEST(Exposer, PortInUseFallsBackOrFailsClearly) {
  Exposer first(ExposerOptions{}, registryWithOneCounter());
  ExposerOptions o;
  o.port = first.port();
  Exposer second(o, registryWithOneCounter());
  EXPECT_NE(second.port(), first.port());
  o.fallback_to_ephemeral = false;
  try {
    Exposer third(o, registryWithOneCounter());
    FAIL() << "expected an error";
  } catch (const MetricsError& err) {
    EXPECT_NE(std::string(err.what()).find(std::to_string(first.port())), std::string::npos);
  }
  o.bind = "not-an-address";
  EXPECT_THROW(Exposer(o, registryWithOneCounter()), MetricsError);
}
