// The host-staging decorator: staging buffers per collective (kept for repeated caller buffers),
// copy in when issued, copy back when waited on; CUDA buffers on a host backend.
#include "l2face/comm/internal/staging.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "l2face/comm/internal/cuda_util.h"

namespace l2face::comm {

// One collective's staging: one-off buffers are released through the memory that allocated
// them, after the copy back has run; persistent ones are marked free again.
struct StagedBuffers {
  StagedBuffers(std::shared_ptr<StagingMemory> m, void* s) : memory(std::move(m)), stream(s) {
    one_off.reserve(2);
  }
  ~StagedBuffers() {
    for (void* p : one_off) memory->release(p);
    for (auto& b : busy) b->store(false);
  }
  StagedBuffers(const StagedBuffers&) = delete;
  StagedBuffers& operator=(const StagedBuffers&) = delete;

  std::shared_ptr<StagingMemory> memory;
  void* stream;
  std::vector<void*> one_off;
  std::vector<std::shared_ptr<std::atomic<bool>>> busy;
  void* caller_out = nullptr;  // where the result goes back to (null: nothing to copy back)
  const void* staged_out = nullptr;
  size_t out_bytes = 0;
};

namespace {

constexpr size_t kMaxSeen = 4096;

class HostStagingMemory final : public StagingMemory {
 public:
  void* allocate(size_t bytes) override { return std::malloc(bytes == 0 ? 4 : bytes); }
  void release(void* p) noexcept override { std::free(p); }
  void copyIn(void* staged, const void* caller, size_t bytes, void*) override {
    if (bytes > 0) std::memcpy(staged, caller, bytes);
  }
  void copyOut(void* caller, const void* staged, size_t bytes, void*) override {
    if (bytes > 0) std::memcpy(caller, staged, bytes);
  }
  void synchronize(void*) override {}
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
    buffers_->memory->synchronize(buffers_->stream);
  }
  double seconds() const override { return inner_->seconds(); }

 private:
  void copyBack() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (copied_) return;
    StagedBuffers& b = *buffers_;
    if (b.caller_out != nullptr)
      b.memory->copyOut(b.caller_out, b.staged_out, b.out_bytes, b.stream);
    // One-off buffers go with this work: their copy back must have run by then.
    if (!b.one_off.empty()) b.memory->synchronize(b.stream);
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

StagingCommunicator::~StagingCommunicator() {
  if (persistent_.empty()) return;
  try {
    options_.memory->synchronize(stream_);
  } catch (...) {
  }
  for (auto& [key, p] : persistent_) options_.memory->release(p.buffer);
}

// A staging buffer for the caller's buffer: its persistent one when free, a new persistent one
// the second time this buffer is staged (within the cap), else a one-off.
void* StagingCommunicator::stagingBuffer(const void* caller, size_t bytes, StagedBuffers& s) {
  const auto key = std::make_pair(caller, bytes);
  auto it = persistent_.find(key);
  if (it == persistent_.end() && seen_.count(key) != 0 &&
      persistent_bytes_ + bytes <= options_.persistent_cap_bytes) {
    Persistent p{options_.memory->allocate(bytes), std::make_shared<std::atomic<bool>>(false)};
    persistent_bytes_ += bytes;
    it = persistent_.emplace(key, p).first;
  }
  if (it != persistent_.end() && !it->second.busy->exchange(true)) {
    s.busy.push_back(it->second.busy);
    return it->second.buffer;
  }
  if (seen_.size() >= kMaxSeen) seen_.clear();
  seen_.insert(key);
  s.one_off.push_back(nullptr);  // reserved: cannot throw after the allocation
  s.one_off.back() = options_.memory->allocate(bytes);
  return s.one_off.back();
}

WorkPtr StagingCommunicator::launch(const Collective& c) {
  const bool in_place = c.traits().in_place;
  const size_t in_bytes = c.sendBytes(size()), out_bytes = c.recvBytes(size());
  const bool stage_out = out_bytes > 0 && options_.needs_staging(c.recv);
  const bool stage_in = !in_place && in_bytes > 0 && options_.needs_staging(c.send);
  if (!stage_out && !stage_in) return inner_.issue(c);
  auto buffers = std::make_shared<StagedBuffers>(options_.memory, stream_);
  Collective staged = c;
  if (stage_out) {
    staged.recv = stagingBuffer(c.recv, out_bytes, *buffers);
    if (in_place) options_.memory->copyIn(staged.recv, c.recv, out_bytes, stream_);
    buffers->caller_out = c.recv;
    buffers->staged_out = staged.recv;
    buffers->out_bytes = out_bytes;
  }
  if (in_place) {
    staged.send = staged.recv;
  } else if (stage_in) {
    void* in = stagingBuffer(c.send, in_bytes, *buffers);
    options_.memory->copyIn(in, c.send, in_bytes, stream_);
    staged.send = in;
  }
  return std::make_shared<StagedWork>(inner_.issue(staged), std::move(buffers));
}

std::shared_ptr<StagingMemory> makeHostStagingMemory() {
  return std::make_shared<HostStagingMemory>();
}

std::unique_ptr<Communicator> withDeviceStaging(std::unique_ptr<Communicator> host_backend) {
  Communicator& inner = *host_backend;
  StagingOptions o;
  o.memory = makePinnedStagingMemory();
  o.needs_staging = [](const void* p) { return isCudaPointer(p); };
  return std::make_unique<StagingCommunicator>(inner, std::move(host_backend), std::move(o));
}

std::unique_ptr<Communicator> aliasOf(Communicator& inner) {
  StagingOptions o;
  o.needs_staging = [](const void*) { return false; };
  return std::make_unique<StagingCommunicator>(inner, nullptr, std::move(o));
}

}  // namespace l2face::comm
