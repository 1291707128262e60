// CommError: a failed or misused collective, naming the op, its sequence number, rank and host.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace l2face::comm {

// Exit code of a job that the communication watchdog ends: a collective that did not complete
// within comm.timeout_seconds, or an asynchronous NCCL error. Documented in docs/communication.md.
inline constexpr int kCommFailureExitCode = 3;

// Thrown by every comm API. Plain value type; safe to copy across threads (an exception_ptr).
class CommError : public std::runtime_error {
 public:
  explicit CommError(const std::string& message) : std::runtime_error(message) {}
  // what() reads "rank R (host): <op> #<sequence>: <message>".
  CommError(const std::string& message, std::string op, uint64_t sequence, int rank,
            std::string host);

  const std::string& op() const { return op_; }
  uint64_t sequence() const { return sequence_; }  // 0: not tied to one collective
  int rank() const { return rank_; }               // -1: unknown
  const std::string& host() const { return host_; }

 private:
  std::string op_;
  uint64_t sequence_ = 0;
  int rank_ = -1;
  std::string host_;
};

}  // namespace l2face::comm
