// The host-staging decorator: staging buffers per collective, copy in when issued, copy out when
// waited on; the host view of a device backend and CUDA buffers on a host backend.
#include "l2face/comm/internal/staging.h"

#include <mutex>
#include <vector>

#include "l2face/comm/internal/cuda_util.h"

namespace l2face::comm {
namespace {

// One collective's staging buffers, released through the memory that allocated them.
struct StagedBuffers {
  explicit StagedBuffers(std::shared_ptr<BufferMemory> m) : memory(std::move(m)) {
    owned.reserve(2);
  }
  ~StagedBuffers() {
    for (void* p : owned) memory->release(p);
  }
  StagedBuffers(const StagedBuffers&) = delete;
  StagedBuffers& operator=(const StagedBuffers&) = delete;

  void* add(size_t bytes) {
    owned.push_back(nullptr);  // reserved: cannot throw after the allocation
    owned.back() = memory->allocate(bytes);
    return owned.back();
  }

  std::shared_ptr<BufferMemory> memory;
  std::vector<void*> owned;
  void* caller_out = nullptr;  // where the result goes back to (null: nothing to copy back)
  const void* staged_out = nullptr;
  size_t out_bytes = 0;
};

class StagedWork final : public Work {
 public:
  StagedWork(WorkPtr inner, std::shared_ptr<StagedBuffers> buffers)
      : inner_(std::move(inner)), buffers_(std::move(buffers)) {}
  bool done() override { return inner_->done(); }
  void wait() override {
    inner_->wait();
    copyBack();
  }
  void synchronize() override {
    inner_->synchronize();
    copyBack();
  }
  double seconds() const override { return inner_->seconds(); }

 private:
  void copyBack() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (copied_) return;
    StagedBuffers& b = *buffers_;
    if (b.caller_out != nullptr) b.memory->copy(b.caller_out, b.staged_out, b.out_bytes);
    b.memory->synchronize();
    copied_ = true;
  }

  WorkPtr inner_;
  std::shared_ptr<StagedBuffers> buffers_;  // alive until the collective is over
  std::mutex mutex_;
  bool copied_ = false;
};

}  // namespace

StagingCommunicator::StagingCommunicator(Communicator& inner, std::unique_ptr<Communicator> owned,
                                         StagingOptions options)
    : owned_(std::move(owned)), inner_(inner), options_(std::move(options)) {}

WorkPtr StagingCommunicator::launch(const Collective& c) {
  const bool in_place = c.traits().in_place;
  const size_t in_bytes = c.sendBytes(size()), out_bytes = c.recvBytes(size());
  const bool stage_out = out_bytes > 0 && options_.needs_staging(c.recv);
  const bool stage_in = !in_place && in_bytes > 0 && options_.needs_staging(c.send);
  if (!stage_out && !stage_in && !options_.synchronous) return inner_.issue(c);
  auto buffers = std::make_shared<StagedBuffers>(options_.memory);
  Collective staged = c;
  if (stage_out) {
    staged.recv = buffers->add(out_bytes);
    if (in_place) options_.memory->copy(staged.recv, c.recv, out_bytes);
    buffers->caller_out = c.recv;
    buffers->staged_out = staged.recv;
    buffers->out_bytes = out_bytes;
  }
  if (in_place) {
    staged.send = staged.recv;
  } else if (stage_in) {
    void* in = buffers->add(in_bytes);
    options_.memory->copy(in, c.send, in_bytes);
    staged.send = in;
  }
  auto work = std::make_shared<StagedWork>(inner_.issue(staged), std::move(buffers));
  if (options_.synchronous) work->synchronize();
  return work;
}

std::unique_ptr<Communicator> withDeviceStaging(std::unique_ptr<Communicator> host_backend) {
  Communicator& inner = *host_backend;
  StagingOptions o;
  o.memory = makeHostMemory();  // copies stage CUDA pointers (copyBytes)
  o.needs_staging = [](const void* p) { return isCudaPointer(p); };
  return std::make_unique<StagingCommunicator>(inner, std::move(host_backend), std::move(o));
}

std::unique_ptr<Communicator> makeHostView(Communicator& inner) {
  if (inner.memoryKind() == MemoryKind::kHost) return nullptr;
  StagingOptions o;
  o.memory = makeCudaMemory(inner);
  o.needs_staging = [](const void*) { return true; };
  o.synchronous = true;
  o.backend_suffix = " (host view)";
  return std::make_unique<StagingCommunicator>(inner, nullptr, std::move(o));
}

}  // namespace l2face::comm
