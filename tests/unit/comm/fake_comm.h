// Test doubles of the comm tests: a rank-0 communicator that counts its collectives and whose works
// complete when waited on, so tests can see what was launched and when.
#pragma once

#include <memory>
#include <string>

#include "l2face/comm/communicator.h"

namespace l2face::comm::fakes {

// Done once waited on (or made released).
struct PendingWork final : Work {
  explicit PendingWork(bool already_released = false) : released(already_released) {}
  bool released;
  bool done() override { return released; }
  void wait() override { released = true; }
};

// Rank 0 of a world of `size`; a subclass implements launch() and counts in seq.
class FakeComm : public Communicator {
 public:
  FakeComm(int size, std::string name) : size_(size), name_(std::move(name)) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  std::string backend() const override { return name_; }
  uint64_t sequence() const override { return seq; }
  uint64_t seq = 0;

 private:
  int size_;
  std::string name_;
};

}  // namespace l2face::comm::fakes
