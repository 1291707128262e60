// Tensor collectives: contiguous buffers on the side of the communicator's memory kind.
#include "l2face/trainer/internal/tensor_comm.h"

#include <stdexcept>
#include <string>

namespace l2face::trainer {
namespace {

// The tensor the backend can read: contiguous, on the host for host backends and on the current
// CUDA device for device backends.
torch::Tensor commSide(comm::Communicator& comm, const torch::Tensor& t) {
  torch::Tensor c = t;
  if (comm.memoryKind() == comm::MemoryKind::kHost && c.is_cuda()) c = c.to(torch::kCPU);
  if (comm.memoryKind() == comm::MemoryKind::kCuda && !c.is_cuda()) c = c.to(torch::kCUDA);
  return c.contiguous();
}

// A world of one on a host backend: every collective is the identity, so a device tensor need not
// make a round trip through the host (two host synchronisations). The call is still issued,
// with no elements, so that the sequence of collectives stays the same.
bool identityOnDevice(comm::Communicator& comm, const torch::Tensor& t) {
  return comm.size() == 1 && comm.memoryKind() == comm::MemoryKind::kHost && t.is_cuda();
}

}  // namespace

comm::DType commDtype(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat:
      return comm::DType::kFloat32;
    case torch::kDouble:
      return comm::DType::kFloat64;
    case torch::kInt:
      return comm::DType::kInt32;
    case torch::kLong:
      return comm::DType::kInt64;
    case torch::kByte:
      return comm::DType::kUInt8;
    default:
      throw std::invalid_argument("collective: unsupported dtype " +
                                  std::string(c10::toString(t.scalar_type())));
  }
}

void allReduceTensor(comm::Communicator& comm, torch::Tensor& t, comm::ReduceOp op) {
  if (identityOnDevice(comm, t)) {
    comm.allReduce(nullptr, 0, commDtype(t), op);
    return;
  }
  torch::Tensor buf = commSide(comm, t);
  comm.allReduce(buf.data_ptr(), static_cast<size_t>(buf.numel()), commDtype(buf), op);
  if (!buf.is_same(t)) t.copy_(buf);
}

torch::Tensor allGatherTensor(comm::Communicator& comm, const torch::Tensor& t) {
  if (identityOnDevice(comm, t)) {
    comm.allGather(nullptr, nullptr, 0, commDtype(t));
    return (t.dim() == 0 ? t.reshape({1}) : t).clone(at::MemoryFormat::Contiguous);
  }
  torch::Tensor send = commSide(comm, t);
  std::vector<int64_t> shape = send.sizes().vec();
  if (shape.empty()) shape.push_back(1);
  shape[0] *= comm.size();
  torch::Tensor recv = torch::empty(shape, send.options());
  comm.allGather(send.data_ptr(), recv.data_ptr(), static_cast<size_t>(send.numel()),
                 commDtype(send));
  return recv.device() == t.device() ? recv : recv.to(t.device());
}

torch::Tensor reduceScatterSumTensor(comm::Communicator& comm, const torch::Tensor& t) {
  const int p = comm.size();
  if (t.dim() < 1 || t.size(0) % p != 0) {
    throw std::invalid_argument("reduce-scatter: dim 0 (" +
                                std::to_string(t.dim() ? t.size(0) : 0) + ") does not split into " +
                                std::to_string(p) + " blocks");
  }
  if (identityOnDevice(comm, t)) {
    comm.reduceScatter(nullptr, nullptr, 0, commDtype(t), comm::ReduceOp::kSum);
    return t.clone(at::MemoryFormat::Contiguous);
  }
  torch::Tensor send = commSide(comm, t);
  std::vector<int64_t> shape = send.sizes().vec();
  shape[0] /= p;
  torch::Tensor recv = torch::empty(shape, send.options());
  comm.reduceScatter(send.data_ptr(), recv.data_ptr(), static_cast<size_t>(recv.numel()),
                     commDtype(send), comm::ReduceOp::kSum);
  return recv.device() == t.device() ? recv : recv.to(t.device());
}

}  // namespace l2face::trainer
