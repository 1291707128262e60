// The world-of-one communicator: collectives that at most copy, completed at once.
#include <cstring>
#include <memory>

#include "l2face/comm/communicator.h"
#include "work.h"

namespace l2face::comm {
namespace {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  uint64_t sequence() const override { return sequence_; }

  WorkPtr allReduceAsync(void*, size_t, DType, ReduceOp) override { return completed(); }
  WorkPtr broadcastAsync(void*, size_t, DType, int root) override {
    if (root != 0) {
      throw CommError("broadcast: root " + std::to_string(root) + " outside a world of 1");
    }
    return completed();
  }
  WorkPtr allGatherAsync(const void* send, void* recv, size_t count, DType dtype) override {
    if (send != recv && count > 0) std::memmove(recv, send, count * dtypeBytes(dtype));
    return completed();
  }
  WorkPtr reduceScatterAsync(const void* send, void* recv, size_t count, DType dtype,
                             ReduceOp) override {
    if (send != recv && count > 0) std::memmove(recv, send, count * dtypeBytes(dtype));
    return completed();
  }
  WorkPtr barrierAsync() override { return completed(); }

 private:
  WorkPtr completed() {
    ++sequence_;
    return std::make_shared<CompletedWork>();
  }
  uint64_t sequence_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> makeLocalCommunicator() {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace l2face::comm
