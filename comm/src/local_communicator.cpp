// The world-of-one communicator: collectives that only copy, plus the dtype helpers.
#include <cstring>

#include "l2face/comm/communicator.h"

namespace l2face::comm {

size_t dtypeBytes(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kUInt8: return 1;
  }
  throw CommError("unknown dtype");
}

const char* reduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kMin: return "min";
  }
  return "?";
}

namespace {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void allReduce(void*, size_t, DType, ReduceOp) override {}
  void broadcast(void*, size_t, DType, int root) override {
    if (root != 0) throw CommError("broadcast: root " + std::to_string(root) + " outside a world of 1");
  }
  void allGather(const void* send, void* recv, size_t count, DType dtype) override {
    if (send != recv) std::memmove(recv, send, count * dtypeBytes(dtype));
  }
  void barrier() override {}
};

}  // namespace

std::unique_ptr<Communicator> makeLocalCommunicator() {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace l2face::comm
