// Helpers every backend shares: dtype and op names, CommError's message, backend names.
#include <string>

#include "l2face/comm/communicator.h"
#include "l2face/comm/errors.h"
#include "l2face/comm/options.h"

namespace l2face::comm {

CommError::CommError(const std::string& message, std::string op, uint64_t sequence, int rank,
                     std::string host)
    : std::runtime_error("rank " + std::to_string(rank) + " (" + host + "): " + op + " #" +
                         std::to_string(sequence) + ": " + message),
      op_(std::move(op)),
      sequence_(sequence),
      rank_(rank),
      host_(std::move(host)) {}

size_t dtypeBytes(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
      return 8;
    case DType::kInt32:
      return 4;
    case DType::kInt64:
      return 8;
    case DType::kUInt8:
      return 1;
  }
  throw CommError("unknown dtype");
}

const char* dtypeName(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kUInt8:
      return "uint8";
  }
  return "?";
}

const char* reduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kAvg:
      return "avg";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMin:
      return "min";
  }
  return "?";
}

Backend backendFromName(const std::string& name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "local") return Backend::kLocal;
  if (name == "mpi") return Backend::kMpi;
  if (name == "nccl") return Backend::kNccl;
  throw CommError("unknown comm backend '" + name + "' (choose auto, local, mpi or nccl)");
}

}  // namespace l2face::comm
