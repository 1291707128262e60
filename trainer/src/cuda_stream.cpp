// currentCudaStream: c10's current stream in builds with CUDA (L2FACE_HAVE_CUDA).
#include "cuda_stream.h"

#ifdef L2FACE_HAVE_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace l2face::trainer {

void* currentCudaStream(const torch::Device& device) {
#ifdef L2FACE_HAVE_CUDA
  if (device.is_cuda()) {
    return static_cast<void*>(c10::cuda::getCurrentCUDAStream(device.index()).stream());
  }
#else
  (void)device;
#endif
  return nullptr;
}

}  // namespace l2face::trainer
