// Helpers every backend shares: the dtype, op and backend tables, the collective table's lookup,
// description checks and sizes, CommError's message.
#include <iterator>
#include <string>

#include "l2face/comm/communicator.h"
#include "l2face/comm/errors.h"
#include "l2face/comm/options.h"

namespace l2face::comm {
namespace {

struct DTypeRow {
  size_t bytes;
  const char* name;
};
// Indexed by DType.
constexpr DTypeRow kDTypes[] = {
    {4, "float32"}, {8, "float64"}, {4, "int32"}, {8, "int64"}, {1, "uint8"}};
// Indexed by ReduceOp.
constexpr const char* kReduceOpNames[] = {"sum", "avg", "max", "min"};
// The row of table for index i, or nullptr when i is outside it.
template <typename T, size_t N>
const T* row(const T (&table)[N], int i) {
  return i >= 0 && static_cast<size_t>(i) < N ? &table[i] : nullptr;
}

}  // namespace

CommError::CommError(const std::string& message, std::string op, uint64_t sequence, int rank,
                     std::string host)
    : std::runtime_error("rank " + std::to_string(rank) + " (" + host + "): " + op + " #" +
                         std::to_string(sequence) + ": " + message),
      op_(std::move(op)),
      sequence_(sequence),
      rank_(rank),
      host_(std::move(host)) {}

size_t dtypeBytes(DType t) {
  const DTypeRow* r = row(kDTypes, static_cast<int>(t));
  if (r == nullptr) throw CommError("unknown dtype");
  return r->bytes;
}

const char* dtypeName(DType t) {
  const DTypeRow* r = row(kDTypes, static_cast<int>(t));
  return r ? r->name : "?";
}

const char* reduceOpName(ReduceOp op) {
  const char* const* r = row(kReduceOpNames, static_cast<int>(op));
  return r ? *r : "?";
}

Backend backendFromName(const std::string& name) {
  for (Backend b : {Backend::kAuto, Backend::kLocal, Backend::kMpi, Backend::kNccl}) {
    if (name == backendName(b)) return b;
  }
  throw CommError("unknown comm backend '" + name + "' (choose auto, local, mpi or nccl)");
}

const CollectiveTraits& collectiveTraits(CollectiveKind kind) {
  const CollectiveTraits* r = row(kCollectiveTraits, static_cast<int>(kind) - 1);
  if (r == nullptr) throw CommError("unknown collective " + std::to_string(static_cast<int>(kind)));
  return *r;
}

size_t Collective::sendBytes(int world_size) const {
  const CollectiveTraits& t = traits();
  if (!t.has_buffers) return 0;
  return count * dtypeBytes(dtype) * (t.send_per_rank ? static_cast<size_t>(world_size) : 1);
}

size_t Collective::recvBytes(int world_size) const {
  const CollectiveTraits& t = traits();
  if (!t.has_buffers) return 0;
  return count * dtypeBytes(dtype) * (t.recv_per_rank ? static_cast<size_t>(world_size) : 1);
}

void checkCollective(const Collective& c, int world_size) {
  const CollectiveTraits& t = c.traits();
  if (t.rooted && (c.root < 0 || c.root >= world_size)) {
    throw CommError(std::string(t.name) + ": root " + std::to_string(c.root) +
                    " outside a world of " + std::to_string(world_size));
  }
  if (t.has_buffers) dtypeBytes(c.dtype);  // throws for an unknown dtype
  if (t.reduces && reduceOpName(c.op)[0] == '?') throw CommError("unknown reduce op");
}

}  // namespace l2face::comm
