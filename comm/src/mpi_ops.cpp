// Ring reduce-scatter / all-gather and request-based ops for the MPI comm thread.
#include "mpi_ops.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "l2face/comm/internal/reduce_kernels.h"

namespace l2face::comm {

void checkMpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw CommError(std::string(call) + " failed: " + std::string(text, static_cast<size_t>(len)));
}

std::vector<size_t> evenChunks(size_t count, int n) {
  std::vector<size_t> counts(static_cast<size_t>(n), count / static_cast<size_t>(n));
  for (size_t i = 0; i < count % static_cast<size_t>(n); ++i) ++counts[i];
  return counts;
}

namespace {

// Largest single message: MPI counts are int, and bounded segments keep the request lists short.
constexpr size_t kMaxSegmentBytes = size_t{1} << 30;
constexpr size_t kMaxSegmentsPerStep = 512;

class RingOp final : public MpiOp {
 public:
  explicit RingOp(const RingSpec& spec) : s_(spec) {
    elem_ = dtypeBytes(s_.dtype);
    offsets_.resize(s_.counts.size());
    size_t off = 0;
    for (size_t i = 0; i < s_.counts.size(); ++i) {
      offsets_[i] = off;
      off += s_.counts[i];
    }
    size_t largest = s_.counts.empty() ? 0 : *std::max_element(s_.counts.begin(), s_.counts.end());
    seg_elems_ = std::max<size_t>(1, std::min(s_.segment_bytes, kMaxSegmentBytes) / elem_);
    seg_elems_ = std::max(seg_elems_, (largest + kMaxSegmentsPerStep - 1) / kMaxSegmentsPerStep);
    steps_ = s_.size - 1;
  }

  void start() override {
    phase_ = s_.reduce_scatter ? Phase::kReduceScatter : Phase::kAllGather;
    step_ = 0;
    if (phase_ == Phase::kAllGather && !s_.all_gather) phase_ = Phase::kDone;
    advance();
  }

  bool poll() override {
    while (phase_ != Phase::kDone) {
      if (!pollStep()) return false;
      ++step_;
      advance();
    }
    return true;
  }

 private:
  enum class Phase { kReduceScatter, kAllGather, kDone };

  int mod(int x) const { return ((x % s_.size) + s_.size) % s_.size; }

  // Moves to the next phase when the current one has run all its steps, then posts the step.
  void advance() {
    for (;;) {
      if (phase_ == Phase::kDone) return;
      if (step_ < steps_) break;
      if (phase_ == Phase::kReduceScatter) {
        if (s_.op == ReduceOp::kAvg) {
          size_t c = static_cast<size_t>(s_.rank);
          finishAverage(s_.buffer + offsets_[c] * elem_, s_.counts[c], s_.dtype, s_.size);
        }
        phase_ = s_.all_gather ? Phase::kAllGather : Phase::kDone;
      } else {
        phase_ = Phase::kDone;
      }
      step_ = 0;
    }
    postStep();
  }

  void postStep() {
    int send_chunk, recv_chunk;
    if (phase_ == Phase::kReduceScatter) {
      send_chunk = mod(s_.rank - step_ - 1);
      recv_chunk = mod(s_.rank - step_ - 2);
    } else {
      send_chunk = mod(s_.rank - step_);
      recv_chunk = mod(s_.rank - step_ - 1);
    }
    const int right = mod(s_.rank + 1), left = mod(s_.rank - 1);
    recv_chunk_ = static_cast<size_t>(recv_chunk);
    requests_.clear();
    recv_segments_.clear();
    const bool rs = phase_ == Phase::kReduceScatter;
    // Receives first, so that a matching send finds its buffer posted.
    size_t rc = s_.counts[recv_chunk_];
    for (size_t e = 0; e < rc; e += seg_elems_) {
      size_t n = std::min(seg_elems_, rc - e);
      char* dst = rs ? s_.scratch + e * elem_ : s_.buffer + (offsets_[recv_chunk_] + e) * elem_;
      requests_.emplace_back();
      checkMpi(MPI_Irecv(dst, static_cast<int>(n * elem_), MPI_BYTE, left, s_.tag, s_.comm,
                         &requests_.back()),
               "MPI_Irecv");
      recv_segments_.push_back({e, n});
    }
    size_t sc = s_.counts[static_cast<size_t>(send_chunk)];
    const char* src = s_.buffer + offsets_[static_cast<size_t>(send_chunk)] * elem_;
    for (size_t e = 0; e < sc; e += seg_elems_) {
      size_t n = std::min(seg_elems_, sc - e);
      requests_.emplace_back();
      checkMpi(MPI_Isend(src + e * elem_, static_cast<int>(n * elem_), MPI_BYTE, right, s_.tag,
                         s_.comm, &requests_.back()),
               "MPI_Isend");
    }
    remaining_ = requests_.size();
    indices_.resize(requests_.size());
  }

  // True when every request of the step has completed and every received partial is reduced.
  bool pollStep() {
    if (remaining_ == 0) return true;
    int outcount = 0;
    checkMpi(MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(), &outcount,
                          indices_.data(), MPI_STATUSES_IGNORE),
             "MPI_Testsome");
    if (outcount == MPI_UNDEFINED) outcount = 0;
    for (int k = 0; k < outcount; ++k) {
      size_t i = static_cast<size_t>(indices_[static_cast<size_t>(k)]);
      if (phase_ == Phase::kReduceScatter && i < recv_segments_.size()) {
        const auto& seg = recv_segments_[i];
        reduceInto(s_.buffer + (offsets_[recv_chunk_] + seg.first) * elem_,
                   s_.scratch + seg.first * elem_, seg.second, s_.dtype, s_.op);
      }
    }
    remaining_ -= static_cast<size_t>(outcount);
    return remaining_ == 0;
  }

  RingSpec s_;
  size_t elem_ = 4;
  size_t seg_elems_ = 1;
  int steps_ = 0;
  std::vector<size_t> offsets_;
  Phase phase_ = Phase::kDone;
  int step_ = 0;
  size_t recv_chunk_ = 0;
  std::vector<MPI_Request> requests_;
  std::vector<int> indices_;
  std::vector<std::pair<size_t, size_t>> recv_segments_;  // (first element, count) in the chunk
  size_t remaining_ = 0;
};

class RequestsOp final : public MpiOp {
 public:
  template <typename Post>
  explicit RequestsOp(Post post) : post_(std::move(post)) {}
  void start() override { post_(requests_); }
  bool poll() override {
    if (requests_.empty()) return true;
    int flag = 0;
    checkMpi(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag,
                         MPI_STATUSES_IGNORE),
             "MPI_Testall");
    return flag != 0;
  }

 private:
  std::function<void(std::vector<MPI_Request>&)> post_;
  std::vector<MPI_Request> requests_;
};

}  // namespace

std::unique_ptr<MpiOp> makeRingOp(const RingSpec& spec) { return std::make_unique<RingOp>(spec); }

std::unique_ptr<MpiOp> makeBroadcastOp(MPI_Comm comm, char* data, size_t bytes, int root) {
  return std::make_unique<RequestsOp>([=](std::vector<MPI_Request>& reqs) {
    // Pieces: a count is an int. Several non-blocking broadcasts may be in flight on one comm.
    for (size_t off = 0; off < bytes; off += kMaxSegmentBytes) {
      size_t n = std::min(kMaxSegmentBytes, bytes - off);
      reqs.emplace_back();
      checkMpi(MPI_Ibcast(data + off, static_cast<int>(n), MPI_BYTE, root, comm, &reqs.back()),
               "MPI_Ibcast");
    }
  });
}

std::unique_ptr<MpiOp> makeBarrierOp(MPI_Comm comm) {
  return std::make_unique<RequestsOp>([=](std::vector<MPI_Request>& reqs) {
    reqs.emplace_back();
    checkMpi(MPI_Ibarrier(comm, &reqs.back()), "MPI_Ibarrier");
  });
}

}  // namespace l2face::comm
