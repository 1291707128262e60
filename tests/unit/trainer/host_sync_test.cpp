// A CPU proxy for the sync-free CUDA step: the operators the step dispatches, recorded with
// torch's RecordFunction, include none whose result size or value the host must read (item,
// bool conversion, nonzero, masked_select, unique, equal, ...). Copies to the host are not seen
// here (on the CPU they are no-ops); the GPU check with run.cuda_sync_debug=error covers them.
#include <ATen/record_function.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "l2face/comm/communicator.h"
#include "l2face/data/loader.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/distributed_cross_entropy.h"
#include "l2face/trainer/internal/head.h"
#include "l2face/trainer/internal/margin.h"
#include "l2face/trainer/internal/optimizer.h"
#include "l2face/trainer/internal/sharded_classifier.h"
#include "l2face/trainer/internal/step_counters.h"
#include "l2face/trainer/internal/train_step.h"

using namespace l2face;
using namespace l2face::trainer;

namespace {

// Operators that need a value on the host (a device-to-host copy and a wait on CUDA) or whose
// output size depends on the data.
const std::set<std::string> kHostSyncOps = {"aten::_local_scalar_dense",
                                            "aten::item",
                                            "aten::is_nonzero",
                                            "aten::nonzero",
                                            "aten::nonzero_numpy",
                                            "aten::argwhere",
                                            "aten::masked_select",
                                            "aten::_unique",
                                            "aten::_unique2",
                                            "aten::unique_dim",
                                            "aten::unique_consecutive",
                                            "aten::equal",
                                            "aten::allclose",
                                            "aten::bincount",
                                            "aten::repeat_interleave"};

thread_local std::vector<std::string>* t_sink = nullptr;

std::unique_ptr<at::ObserverContext> recordName(const at::RecordFunction& fn) {
  if (t_sink) t_sink->emplace_back(fn.name());
  return nullptr;
}

// Records the names of the operators this thread dispatches while alive.
class OpRecorder {
 public:
  OpRecorder()
      : handle_(at::addThreadLocalCallback(
            at::RecordFunctionCallback(&recordName).scopes({at::RecordScope::FUNCTION}))) {
    t_sink = &names_;
  }
  ~OpRecorder() {
    t_sink = nullptr;
    at::removeCallback(handle_);
  }
  // The recorded operators that need the host, each once.
  std::set<std::string> hostSyncs() const {
    std::set<std::string> out;
    for (const auto& n : names_) {
      if (kHostSyncOps.count(n)) out.insert(n);
    }
    return out;
  }
  size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  at::CallbackHandle handle_;
};

std::string joined(const std::set<std::string>& s) {
  std::string out;
  for (const auto& n : s) out += (out.empty() ? "" : ", ") + n;
  return out;
}

HeadOptions headOf(HeadType type) {
  HeadOptions h;
  h.type = type;
  h.scale = 16.0;
  h.margin = 0.5;
  return h;
}

// The recorder itself works: a nonzero and an item() are seen.
TEST(HostSync, RecorderSeesOperatorsThatNeedTheHost) {
  const torch::Tensor t = torch::tensor({0.0, 1.0, 2.0});
  OpRecorder rec;
  (void)t.nonzero();
  (void)t.sum().item<double>();
  EXPECT_EQ(rec.hostSyncs(),
            (std::set<std::string>{"aten::_local_scalar_dense", "aten::item", "aten::nonzero"}));
}

TEST(HostSync, DistributedCrossEntropyReadsNothingOnTheHost) {
  auto comm = comm::makeLocalCommunicator();
  torch::manual_seed(3);
  const torch::Tensor scores = torch::rand({7, 5}, torch::kDouble) * 2 - 1;  // cosines, k × n
  const torch::Tensor target_row = torch::tensor({0, -1, 6, 2, -1}, torch::kLong);
  const Margin margin{0.5, 0};
  const MarginFn fn = [&](const torch::Tensor& s) { return marginTarget(s / 8, margin) * 8; };
  torch::Tensor logits = scores * 8;
  OpRecorder rec;
  const CrossEntropyResult ce = distributedCrossEntropy(logits, target_row, fn, *comm, 1.0);
  chainThroughMargin(logits, ce);
  EXPECT_GT(rec.size(), 10u);
  EXPECT_TRUE(rec.hostSyncs().empty()) << joined(rec.hostSyncs());
}

TEST(HostSync, ShardedClassifierStepReadsNothingOnTheHost) {
  auto comm = comm::makeLocalCommunicator();
  for (HeadType type : {HeadType::kSoftmax, HeadType::kArcFace}) {
    SCOPED_TRACE(enumName(type));
    ClassifierOptions cls;
    cls.parallel = ClassifierPlacement::kSharded;
    OptimOptions optim;
    optim.clip_grad_norm = 1.0;
    ShardedClassifier sc(headOf(type), optim, cls, 11, 6, 5, *comm, torch::kCPU, torch::kFloat);
    const torch::Tensor features = torch::randn({4, 6});
    const torch::Tensor labels = torch::tensor({0, 10, 3, 3}, torch::kLong);
    OpRecorder rec;
    for (int step = 0; step < 2; ++step) {
      sc.zeroGrad();
      sc.forwardBackward(features, labels, 1.0, step);
      const torch::Tensor sq = sc.gradSquaredNorm();
      sc.scaleGrad((1.0 / (sq.sqrt() + 1e-6)).clamp_max(1.0));
      sc.step(0.1, torch::zeros({}));
    }
    EXPECT_TRUE(rec.hostSyncs().empty()) << joined(rec.hostSyncs());
  }
}

// The whole training step as the loop runs it (begin, micro-batches, finish), with the
// replicated head and with the sharded classifier on one rank.
TEST(HostSync, TrainStepReadsNothingOnTheHost) {
  auto comm = comm::makeLocalCommunicator();
  for (bool sharded : {false, true}) {
    SCOPED_TRACE(sharded ? "sharded" : "replicated");
    ModelOptions model;
    model.embedding_dim = 8;
    model.width = 4;
    const HeadOptions head = headOf(HeadType::kCosFace);
    OptimOptions optim;
    optim.clip_grad_norm = 5.0;
    TrainModel m;
    m.backbone = makeBackbone(model, 16);
    m.head = Head(head, model.embedding_dim, 5, /*seed=*/1, /*with_classifier=*/!sharded);
    if (sharded) {
      ClassifierOptions cls;
      cls.parallel = ClassifierPlacement::kSharded;
      m.classifier = std::make_unique<ShardedClassifier>(head, optim, cls, 5, model.embedding_dim,
                                                         1, *comm, torch::kCPU, torch::kFloat);
    }
    auto optimizer = makeOptimizer(optim, parameterGroups({m.backbone.get(), m.head.get()}, optim));
    StepConfig config;
    config.accumulate = 2;
    config.clip_grad_norm = optim.clip_grad_norm;
    TrainStep step(m, *optimizer, *comm, /*dp=*/nullptr, config);
    StepCounters counters(torch::kCPU);
    data::Batch batch;
    batch.batch_size = 4;
    batch.height = batch.width = 16;
    batch.pixels = data::PixelBuffer::zeros(4 * 16 * 16 * 3);
    batch.labels = data::LabelBuffer::zeros(4);
    for (int j = 0; j < 4; ++j) batch.labels[j] = j % 5;
    for (size_t i = 0; i < batch.pixels.size(); ++i) batch.pixels[i] = static_cast<uint8_t>(i * 7);
    OpRecorder rec;
    for (int s = 0; s < 2; ++s) {
      step.begin(s);
      for (int micro = 0; micro < 2; ++micro) step.microBatch(batch, micro, /*poisoned=*/false);
      step.finish(0.1, /*poisoned=*/false, counters);
    }
    EXPECT_GT(rec.size(), 100u);
    EXPECT_TRUE(rec.hostSyncs().empty()) << joined(rec.hostSyncs());
  }
}

}  // namespace
