// Communicator: the collective operations l2face's ranks use, independent of the backend.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace l2face::comm {

class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DType { kFloat32, kFloat64, kInt32, kInt64, kUInt8 };
enum class ReduceOp { kSum, kAvg, kMax, kMin };

size_t dtypeBytes(DType t);
const char* reduceOpName(ReduceOp op);

// Collectives over a fixed group of ranks.
//
// Contract: every collective must be called in the same order, with the same counts and dtypes,
// on every rank of the group; a rank that skips one makes the others wait (the watchdog of the
// distributed backends turns that wait into an error). Buffers are host memory for the local and
// MPI backends. Thread-safety: not thread-safe; one owner thread issues all collectives.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  // In place: data holds count elements on every rank and receives the reduction.
  virtual void allReduce(void* data, size_t count, DType dtype, ReduceOp op) = 0;
  // In place: root's count elements are copied to every rank.
  virtual void broadcast(void* data, size_t count, DType dtype, int root) = 0;
  // recv receives size() blocks of count elements, block r from rank r.
  virtual void allGather(const void* send, void* recv, size_t count, DType dtype) = 0;
  virtual void barrier() = 0;
};

// A world of one: every collective is the identity (kAvg divides by 1). Always available.
std::unique_ptr<Communicator> makeLocalCommunicator();

}  // namespace l2face::comm
