// A loader batch on its way to the device: pinned batch memory, the copy on a side stream with a
// reuse fence for the loader; small host tensors copied without blocking.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "l2face/data/loader.h"

namespace l2face::trainer {

// Memory for the loader's batch blocks: page-locked host memory from torch's pinned allocator on
// a CUDA device (so the copies below are asynchronous), nullptr (the loader's heap default) on
// the CPU.
data::BatchAllocator batchAllocator(const torch::Device& device);

// A batch's tensors on the device: uint8 NHWC pixels and int64 labels.
struct DeviceBatch {
  torch::Tensor pixels;
  torch::Tensor labels;
};

// On the CPU: tensors over the batch's own memory, no copy. On CUDA: copies pixels and labels on
// a side stream (non-blocking; asynchronous when the batch memory is pinned), makes the current
// (compute) stream wait for an event recorded after the copies (the host does not wait), and
// gives the batch a reuse fence on that event, so that its loader overwrites the memory only
// once the copies have read it. Not thread-safe; one owner.
class BatchTransfer {
 public:
  explicit BatchTransfer(const torch::Device& device);
  ~BatchTransfer();
  BatchTransfer(const BatchTransfer&) = delete;
  BatchTransfer& operator=(const BatchTransfer&) = delete;

  DeviceBatch operator()(const data::Batch& batch);

 private:
  struct CopyStream;
  torch::Device device_;
  std::unique_ptr<CopyStream> copy_;  // CUDA only
};

// A small host tensor on `device` without blocking the host: staged through pinned memory, copied
// non-blocking (a copy from pageable memory would wait for the stream). The tensor itself on the
// CPU.
torch::Tensor hostToDevice(const torch::Tensor& host, const torch::Device& device);

}  // namespace l2face::trainer
