// Host staging of CUDA buffers: copy in when issued, copy out when waited on.
#include "staging.h"

namespace l2face::comm {
namespace {

class StagedWork final : public Work {
 public:
  StagedWork(WorkPtr inner, std::shared_ptr<std::vector<char>> in_host,
             std::shared_ptr<std::vector<char>> out_host, void* out)
      : inner_(std::move(inner)),
        in_host_(std::move(in_host)),
        out_host_(std::move(out_host)),
        out_(out) {}
  bool done() override { return inner_->done(); }
  void wait() override {
    inner_->wait();
    std::lock_guard<std::mutex> lock(mutex_);
    if (!copied_ && out_host_) copyBytes(out_, out_host_->data(), out_host_->size());
    copied_ = true;
  }

 private:
  WorkPtr inner_;
  std::shared_ptr<std::vector<char>> in_host_;  // kept alive until the collective is over
  std::shared_ptr<std::vector<char>> out_host_;
  void* out_;
  std::mutex mutex_;
  bool copied_ = false;
};

}  // namespace

Staging::Staging(const void* in, size_t in_bytes, void* out, size_t out_bytes)
    : in_(in), out_(out) {
  const bool in_dev = in_bytes > 0 && isCudaPointer(in);
  const bool out_dev = out_bytes > 0 && isCudaPointer(out);
  active_ = in_dev || out_dev;
  if (!active_) return;
  if (out_dev) out_host_ = std::make_shared<std::vector<char>>(out_bytes);
  if (in == out && out_dev) {
    copyBytes(out_host_->data(), in, in_bytes);  // in place: one host buffer serves both
    in_ = out_host_->data();
    return;
  }
  if (in_dev) {
    in_host_ = std::make_shared<std::vector<char>>(in_bytes);
    copyBytes(in_host_->data(), in, in_bytes);
  }
}

WorkPtr Staging::wrap(WorkPtr inner) {
  if (!active_) return inner;
  return std::make_shared<StagedWork>(std::move(inner), in_host_, out_host_, out_);
}

}  // namespace l2face::comm
