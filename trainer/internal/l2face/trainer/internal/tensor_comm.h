// Collectives on torch tensors over a comm::Communicator: dtype mapping, contiguity, and staging
// through host memory when a host backend (local, mpi) meets a CUDA tensor in a world of two or
// more (a host synchronisation each way; device backends get device tensors, no host copy; a
// world of one keeps the tensor on its device).
#pragma once

#include <torch/torch.h>

#include "l2face/comm/communicator.h"

namespace l2face::trainer {

// Throws std::invalid_argument for a dtype the communicator cannot carry.
comm::DType commDtype(const torch::Tensor& t);

// In place on t (any shape; made contiguous first if needed, result written back).
void allReduceTensor(comm::Communicator& comm, torch::Tensor& t, comm::ReduceOp op);
// Every rank's t (the same shape everywhere) concatenated along dim 0 in rank order.
torch::Tensor allGatherTensor(comm::Communicator& comm, const torch::Tensor& t);
// t: size() equal blocks along dim 0; returns this rank's block summed over all ranks.
torch::Tensor reduceScatterSumTensor(comm::Communicator& comm, const torch::Tensor& t);

}  // namespace l2face::trainer
