// Helpers of the hostile-client tests: raw sockets that misbehave, the process's memory and limits.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

namespace l2face::hostile {

using Clock = std::chrono::steady_clock;

// Under ASan or TSan (scripts/sanitize.sh) everything runs several times slower, and the resident
// size says nothing about the servers (ASan's quarantine keeps freed memory, shadow memory grows
// with the heap): time bounds are scaled, memory bounds are checked in the plain build only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif
constexpr double kSlowdown = kSanitized ? 5.0 : 1.0;

inline double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Resident set size of this process, bytes (the servers under test run in it).
inline uint64_t residentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Raises the soft descriptor limit towards `want` (the hard limit caps it); returns the result.
inline uint64_t raiseDescriptorLimit(uint64_t want) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min<rlim_t>(want, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

// A client socket on 127.0.0.1:port, non-blocking after the connect.
class RawClient {
 public:
  RawClient() = default;
  explicit RawClient(int port) { open(port); }
  ~RawClient() { close(); }
  RawClient(RawClient&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RawClient& operator=(RawClient&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }

  bool open(int port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close();
      return false;
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return true;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    closed_by_peer_ = false;
  }
  bool isOpen() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends what the socket takes now; false once the peer has closed.
  bool send(const std::string& bytes) {
    if (fd_ < 0) return false;
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, 1000) <= 0) return false;
        continue;
      }
      closed_by_peer_ = true;
      return false;
    }
    return true;
  }

  // Reads what has arrived (without waiting); notes whether the peer closed.
  std::string drain() {
    std::string out;
    char buf[4096];
    while (fd_ >= 0) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        closed_by_peer_ = true;
      }
      break;
    }
    received_ += out;
    return out;
  }

  // True once the peer closed the connection (read end of stream or a reset).
  bool closedByPeer() {
    drain();
    return closed_by_peer_;
  }

  // Waits up to `seconds` for the peer to close; what arrived meanwhile is in received().
  bool waitClosed(double seconds) {
    const auto t0 = Clock::now();
    while (!closedByPeer()) {
      if (secondsSince(t0) > seconds) return false;
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 20);
    }
    return true;
  }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  bool closed_by_peer_ = false;
  std::string received_;
};

// One HTTP exchange on a fresh connection: the whole answer (read until the server closes).
inline std::string httpGet(int port, const std::string& path, double timeout_seconds = 3) {
  RawClient c;
  if (!c.open(port)) return "<connect failed>";
  c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  c.waitClosed(timeout_seconds);
  return c.received();
}

}  // namespace l2face::hostile
