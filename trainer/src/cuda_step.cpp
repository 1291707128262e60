// The CUDA side of the training step: torch's pinned allocator for the loader, a side copy stream
// whose CUDA event is both the compute stream's wait and the loader's reuse fence, non-blocking
// small copies, and torch's sync-debug scopes.
#include <chrono>
#include <stdexcept>
#include <thread>

#include "l2face/trainer/internal/batch_transfer.h"
#include "l2face/trainer/internal/sync_debug.h"

#ifdef L2FACE_HAVE_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/PinnedMemoryAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace l2face::trainer {
namespace {

torch::Tensor hostPixels(const data::Batch& b) {
  return torch::from_blob(const_cast<uint8_t*>(b.pixels.data()),
                          {b.batch_size, b.height, b.width, 3}, torch::kUInt8);
}

torch::Tensor hostLabels(const data::Batch& b) {
  return torch::from_blob(const_cast<int64_t*>(b.labels.data()), {b.batch_size}, torch::kLong);
}

}  // namespace

#ifdef L2FACE_HAVE_CUDA

namespace {

// Fired when the CUDA event recorded after a batch's copies has completed. wait() polls, since
// cudaEventSynchronize cannot time out.
class CudaEventFence : public data::ReuseFence {
 public:
  explicit CudaEventFence(std::shared_ptr<at::cuda::CUDAEvent> event) : event_(std::move(event)) {}
  bool ready() override { return event_->query(); }
  bool wait(double timeout_seconds) override {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(timeout_seconds));
    while (!event_->query()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }

 private:
  std::shared_ptr<at::cuda::CUDAEvent> event_;
};

}  // namespace

struct BatchTransfer::CopyStream {
  c10::cuda::CUDAStream stream;
};

data::BatchAllocator batchAllocator(const torch::Device& device) {
  if (!device.is_cuda()) return nullptr;
  return [](size_t bytes) -> std::shared_ptr<uint8_t> {
    at::DataPtr block = at::cuda::getPinnedMemoryAllocator()->allocate(bytes);
    auto* p = static_cast<uint8_t*>(block.get());
    if (!p) return nullptr;
    // The DataPtr's deleter gives the memory back to torch's pinned cache with the last copy.
    auto owner = std::make_shared<at::DataPtr>(std::move(block));
    return std::shared_ptr<uint8_t>(owner, p);
  };
}

BatchTransfer::BatchTransfer(const torch::Device& device) : device_(device) {
  if (device_.is_cuda()) {
    copy_ = std::make_unique<CopyStream>(CopyStream{c10::cuda::getStreamFromPool(
        /*isHighPriority=*/false, device_.has_index() ? device_.index() : -1)});
  }
}

DeviceBatch BatchTransfer::operator()(const data::Batch& batch) {
  if (!copy_) return {hostPixels(batch), hostLabels(batch)};
  const c10::cuda::CUDAStream compute =
      c10::cuda::getCurrentCUDAStream(copy_->stream.device_index());
  auto done = std::make_shared<at::cuda::CUDAEvent>();
  DeviceBatch out;
  {
    // The copies do not wait for the compute stream: their destinations are fresh blocks of the
    // copy stream's pool, never handed out while a stream recorded below still uses them.
    c10::cuda::CUDAStreamGuard on_copy(copy_->stream);
    out.pixels = hostPixels(batch).to(device_, /*non_blocking=*/true);
    out.labels = hostLabels(batch).to(device_, /*non_blocking=*/true);
    done->record(copy_->stream);
  }
  done->block(compute);
  // Allocated on the copy stream, used on the compute stream: the caching allocator must not
  // hand the memory to the copy stream again before the compute stream is done with it.
  out.pixels.record_stream(compute);
  out.labels.record_stream(compute);
  batch.setReuseFence(std::make_shared<CudaEventFence>(std::move(done)));
  return out;
}

SyncDebugScope::SyncDebugScope(const torch::Device& device, SyncDebug mode) {
  if (!device.is_cuda() || mode == SyncDebug::kOff) return;
  auto& state = c10::cuda::warning_state();
  previous_ = static_cast<int>(state.get_sync_debug_mode());
  state.set_sync_debug_mode(mode == SyncDebug::kError ? c10::cuda::SyncDebugMode::L_ERROR
                                                      : c10::cuda::SyncDebugMode::L_WARN);
  active_ = true;
}

SyncDebugScope::~SyncDebugScope() {
  if (active_) {
    c10::cuda::warning_state().set_sync_debug_mode(
        static_cast<c10::cuda::SyncDebugMode>(previous_));
  }
}

AllowHostSync::AllowHostSync() {
  auto& state = c10::cuda::warning_state();
  previous_ = static_cast<int>(state.get_sync_debug_mode());
  active_ = state.get_sync_debug_mode() != c10::cuda::SyncDebugMode::L_DISABLED;
  if (active_) state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
}

AllowHostSync::~AllowHostSync() {
  if (active_) {
    c10::cuda::warning_state().set_sync_debug_mode(
        static_cast<c10::cuda::SyncDebugMode>(previous_));
  }
}

torch::Tensor hostToDevice(const torch::Tensor& host, const torch::Device& device) {
  if (device.is_cpu()) return host;
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

#else  // no CUDA: the CPU path only

namespace {

[[noreturn]] void noCuda() {
  throw std::runtime_error("a CUDA device needs l2face built with CUDA (L2FACE_CUDA)");
}

}  // namespace

struct BatchTransfer::CopyStream {};

data::BatchAllocator batchAllocator(const torch::Device& device) {
  if (device.is_cuda()) noCuda();
  return nullptr;
}

BatchTransfer::BatchTransfer(const torch::Device& device) : device_(device) {
  if (device_.is_cuda()) noCuda();
}

DeviceBatch BatchTransfer::operator()(const data::Batch& batch) {
  return {hostPixels(batch), hostLabels(batch)};
}

SyncDebugScope::SyncDebugScope(const torch::Device& device, SyncDebug mode) {
  if (device.is_cuda() && mode != SyncDebug::kOff) noCuda();
}

SyncDebugScope::~SyncDebugScope() = default;

AllowHostSync::AllowHostSync() = default;
AllowHostSync::~AllowHostSync() = default;

torch::Tensor hostToDevice(const torch::Tensor& host, const torch::Device& device) {
  if (!device.is_cpu()) noCuda();
  return host;
}

#endif

BatchTransfer::~BatchTransfer() = default;

}  // namespace l2face::trainer
