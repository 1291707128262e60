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
  rawExchange(e.port(), std::string("\x16\x03\x01\x00\xff garbage \r\n\r\n", 24));
  // Slowloris: half a request line, then silence; the server drops it after the timeout.
  auto t0 = std::chrono::steady_clock::now();
  rawExchange(e.port(), "GET /metr");
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 2.5);
  EXPECT_NE(get(e.port(), "/metrics").find("200 OK"), std::string::npos);
  EXPECT_GE(e.stats().rejected, 2u);
}

TEST(Exposer, ConnectionCap) {
  ExposerOptions o;
  o.max_connections = 2;
  o.read_timeout_ms = 2000;
  Exposer e(o, registryWithOneCounter());
  int a = connectTo(e.port()), b = connectTo(e.port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  usleep(100000);
  // The third is accepted and closed at once: an immediate EOF, no response.
  EXPECT_EQ(rawExchange(e.port(), "GET /metrics HTTP/1.1\r\n\r\n"), "");
  ::close(a);
  ::close(b);
  usleep(100000);
  EXPECT_NE(get(e.port(), "/metrics").find("200 OK"), std::string::npos);
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
