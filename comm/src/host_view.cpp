// A host-memory view of a device communicator: host buffers copied to device memory, the inner
// collective, and the result copied back, synchronously.
#include <cstring>
#include <memory>

#include "buffer_memory.h"
#include "l2face/comm/communicator.h"
#include "work.h"

namespace l2face::comm {
namespace {

class HostView final : public Communicator {
 public:
  explicit HostView(Communicator& inner) : inner_(inner), mem_(makeCudaMemory(inner)) {}

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string backend() const override { return inner_.backend() + " (host view)"; }
  uint64_t sequence() const override { return inner_.sequence(); }

  WorkPtr allReduceAsync(void* data, size_t count, DType dtype, ReduceOp op) override {
    const size_t bytes = count * dtypeBytes(dtype);
    Device d(*mem_, bytes);
    mem_->copy(d.p, data, bytes);
    inner_.allReduceAsync(d.p, count, dtype, op)->wait();
    return back(data, d.p, bytes);
  }
  WorkPtr broadcastAsync(void* data, size_t count, DType dtype, int root) override {
    const size_t bytes = count * dtypeBytes(dtype);
    Device d(*mem_, bytes);
    mem_->copy(d.p, data, bytes);
    inner_.broadcastAsync(d.p, count, dtype, root)->wait();
    return back(data, d.p, bytes);
  }
  WorkPtr allGatherAsync(const void* send, void* recv, size_t count, DType dtype) override {
    const size_t bytes = count * dtypeBytes(dtype);
    Device in(*mem_, bytes), out(*mem_, bytes * static_cast<size_t>(size()));
    mem_->copy(in.p, send, bytes);
    inner_.allGatherAsync(in.p, out.p, count, dtype)->wait();
    return back(recv, out.p, bytes * static_cast<size_t>(size()));
  }
  WorkPtr reduceScatterAsync(const void* send, void* recv, size_t count, DType dtype,
                             ReduceOp op) override {
    const size_t bytes = count * dtypeBytes(dtype);
    Device in(*mem_, bytes * static_cast<size_t>(size())), out(*mem_, bytes);
    mem_->copy(in.p, send, bytes * static_cast<size_t>(size()));
    inner_.reduceScatterAsync(in.p, out.p, count, dtype, op)->wait();
    return back(recv, out.p, bytes);
  }
  WorkPtr barrierAsync() override {
    inner_.barrierAsync()->wait();
    mem_->synchronize();
    return std::make_shared<CompletedWork>();
  }

 private:
  struct Device {  // a device buffer for one call
    Device(BufferMemory& m, size_t bytes) : mem(m), p(m.allocate(bytes)) {}
    ~Device() { mem.release(p); }
    BufferMemory& mem;
    void* p;
  };
  WorkPtr back(void* host, const void* device, size_t bytes) {
    mem_->copy(host, device, bytes);
    mem_->synchronize();
    return std::make_shared<CompletedWork>();
  }

  Communicator& inner_;
  std::unique_ptr<BufferMemory> mem_;
};

}  // namespace

std::unique_ptr<Communicator> makeHostView(Communicator& inner) {
  if (inner.memoryKind() == MemoryKind::kHost) return nullptr;
  return std::make_unique<HostView>(inner);
}

}  // namespace l2face::comm
