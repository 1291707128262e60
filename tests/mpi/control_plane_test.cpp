// The two planes of a training run under mpirun: the data communicator carries only tensors
// (start-up broadcasts, the bucket layout check, float32 gradient buckets); every agreement (stop
// flag, window sums, checkpoint votes, resume choice) travels on the control communicator.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "l2face/comm/communicator.h"
#include "l2face/trainer/trainer.h"
#include "tiny_training.h"

namespace fs = std::filesystem;
using namespace l2face;
using comm::CollectiveKind;
using comm::DType;

namespace {

// Forwards to inner and records each collective's kind and dtype, in issue order.
class Counting final : public comm::Communicator {
 public:
  explicit Counting(comm::Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string backend() const override { return inner_.backend(); }
  comm::MemoryKind memoryKind() const override { return inner_.memoryKind(); }
  uint64_t sequence() const override { return inner_.sequence(); }
  int count(CollectiveKind k, DType d) const {
    int n = 0;
    for (const auto& c : calls) n += c.first == k && c.second == d;
    return n;
  }
  int count(CollectiveKind k) const {
    int n = 0;
    for (const auto& c : calls) n += c.first == k;
    return n;
  }
  std::vector<std::pair<CollectiveKind, DType>> calls;

 protected:
  comm::WorkPtr launch(const comm::Collective& c) override {
    calls.emplace_back(c.kind, c.dtype);
    return inner_.issue(c);
  }

 private:
  comm::Communicator& inner_;
};

struct Planes {
  Planes() {
    comm::CommOptions o;
    o.backend = comm::Backend::kMpi;
    o.timeout_seconds = 60;
    o.tensors = comm::TensorDevice::kCpu;
    ctx = comm::runContextFromEnvironment();
    planes = comm::makeCommPlanes(o, ctx);
  }
  comm::RunContext ctx;
  comm::CommPlanes planes;
};

// A corpus in a directory shared by the ranks (rank 0's process id names it).
fs::path sharedRoot(comm::Communicator& control) {
  int64_t id = ::getpid();
  control.broadcast(&id, 1, DType::kInt64, 0);
  const fs::path root = fs::temp_directory_path() / ("l2face_planes_" + std::to_string(id));
  if (control.rank() == 0) tiny::writeTinyCorpus(root / "corpus", 1);
  control.barrier();
  return root;
}

// Checkpoints and evaluation every 2 of the 4 steps.
trainer::TrainerOptions options(const fs::path& root, const std::string& run) {
  trainer::TrainerOptions t = tiny::tinyTraining(root / "corpus", root / run, 4);
  t.checkpoint.every_steps = 2;
  t.eval.pairs = (root / "corpus" / "eval" / "pairs.txt").string();
  t.eval.folds = 2;
  t.eval.every_steps = 2;
  return t;
}

// What the data plane may carry: start-up broadcasts and the layout check, then only float32
// all-reduces (the gradient buckets), never a barrier. Returns the bucket all-reduces.
int expectOnlyTensors(const Counting& data) {
  EXPECT_EQ(data.count(CollectiveKind::kBarrier), 0);
  bool training = false;
  int buckets = 0;
  for (const auto& [kind, dtype] : data.calls) {
    const bool bucket = kind == CollectiveKind::kAllReduce && dtype == DType::kFloat32;
    if (training) EXPECT_TRUE(bucket) << comm::collectiveName(kind) << " " << dtypeName(dtype);
    training = training || bucket;
    buckets += bucket;
  }
  return buckets;
}

TEST(ControlPlane, AgreementsNeverReachTheDataCommunicator) {
  Planes p;
  if (p.ctx.world_size < 2) GTEST_SKIP() << "needs at least two ranks";
  Counting data(*p.planes.data), control(*p.planes.control);
  const fs::path root = sharedRoot(*p.planes.control);

  const trainer::TrainerOptions full = options(root, "full");
  const trainer::TrainSummary s = trainer::train(full, data, control, p.ctx);
  EXPECT_EQ(s.steps, 4);
  EXPECT_EQ(s.eval_step, p.ctx.rank == 0 ? 4 : -1);  // rank 0 evaluates
  const int per_run = expectOnlyTensors(data);
  ASSERT_GT(per_run, 0);
  EXPECT_EQ(per_run % 4, 0) << "the same buckets every step";
  // One stop vote per step and one window sum per logging window, on the control plane.
  EXPECT_GE(control.count(CollectiveKind::kAllReduce, DType::kInt32), 4);
  EXPECT_EQ(control.count(CollectiveKind::kAllReduce, DType::kFloat64), 2);
  EXPECT_EQ(control.count(CollectiveKind::kAllReduce, DType::kFloat32), 0);

  // A stop request: the ranks agree at the first boundary, save and stop, all on control.
  data.calls.clear();
  control.calls.clear();
  std::atomic<int> stop{1};
  trainer::TrainerOptions stopped = options(root, "stopped");
  stopped.stop_requested = &stop;
  const trainer::TrainSummary t = trainer::train(stopped, data, control, p.ctx);
  EXPECT_TRUE(t.preempted);
  EXPECT_EQ(t.steps, 1);
  EXPECT_EQ(expectOnlyTensors(data) * 4, per_run);
  EXPECT_GE(control.count(CollectiveKind::kAllReduce, DType::kInt32), 1);

  // Resuming chooses the checkpoint on the control plane too.
  data.calls.clear();
  trainer::TrainerOptions resumed = options(root, "stopped");
  resumed.resume = "auto";
  const trainer::TrainSummary r = trainer::train(resumed, data, control, p.ctx);
  EXPECT_EQ(r.resumed_from_step, 1);
  EXPECT_EQ(expectOnlyTensors(data) * 4, per_run * 3);
  control.barrier();
  if (p.ctx.rank == 0) fs::remove_all(root);
}

}  // namespace
