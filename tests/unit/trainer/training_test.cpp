// Short training runs on a synthetic corpus: the loss falls for every head, learned α moves and
// is saved, and non-finite steps are skipped, counted and abort the run after max_nan_steps.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "l2face/checkpoint/store.h"
#include "l2face/comm/communicator.h"
#include "l2face/data/synth.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/head.h"
#include "l2face/trainer/internal/model_state.h"
#include "l2face/trainer/trainer.h"
#include "tiny_training.h"

namespace fs = std::filesystem;
using namespace l2face;
using namespace l2face::trainer;

namespace {

class Training : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("l2face_training_" + std::to_string(::getpid()));
    tiny::writeTinyCorpus(root_ / "corpus", 2);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static TrainerOptions options(const std::string& run) {
    return tiny::tinyTraining(root_ / "corpus", root_ / run, 8);
  }
  static TrainSummary run(const TrainerOptions& t) {
    auto comm = comm::makeLocalCommunicator();
    return train(t, *comm, comm::RunContext{});
  }
  // Every saved tensor of a checkpoint by name: "backbone.<param>", "head.<param>", "optim.tN".
  static std::map<std::string, torch::Tensor> weights(const TrainerOptions& t,
                                                      const std::string& checkpoint_dir) {
    const fs::path dir(checkpoint_dir);
    std::map<std::string, torch::Tensor> out;
    auto net = makeBackbone(t.model, t.data.image_size);
    loadModule(*net, dir / "backbone.pt");
    Head head(t.head, t.model.embedding_dim, 8);
    loadModule(*head, dir / "head.pt");
    for (auto* m : {static_cast<torch::nn::Module*>(net.get()),
                    static_cast<torch::nn::Module*>(head.get())}) {
      const std::string prefix = m == net.get() ? "backbone." : "head.";
      for (const auto& kv : m->named_parameters()) out[prefix + kv.key()] = kv.value();
      for (const auto& kv : m->named_buffers()) out[prefix + kv.key()] = kv.value();
    }
    auto state = loadTensors(dir / "optimizer.pt");
    for (size_t i = 0; i < state.size(); ++i) out["optim.t" + std::to_string(i)] = state[i];
    return out;
  }

  static fs::path root_;
};
fs::path Training::root_;

}  // namespace

// The mean loss of the last 5 of 80 steps is well below that of the first 5, for every head and
// for both optimizers; accumulation and clipping run through the same loop.
TEST_F(Training, LossFallsForEveryHead) {
  struct Arm {
    HeadType head;
    OptimType optim;
    int accumulate;
    double clip;
  };
  using H = HeadType;
  using O = OptimType;
  for (const Arm& a : {Arm{H::kL2Softmax, O::kSgd, 1, 0.0}, Arm{H::kSoftmax, O::kSgd, 1, 0.0},
                       Arm{H::kNormFace, O::kSgd, 2, 0.0}, Arm{H::kCosFace, O::kAdamW, 1, 5.0},
                       Arm{H::kArcFace, O::kSgd, 1, 5.0}}) {
    SCOPED_TRACE(enumName(a.head));
    TrainerOptions t = options(std::string("fall_") + enumName(a.head));
    t.head.type = a.head;
    t.head.alpha_auto = true;  // α_low ≈ 4 for 8 classes (α = 16 oscillates at this lr and C)
    t.head.scale = 16;
    t.head.margin = a.head == H::kCosFace ? 0.2 : 0.3;
    t.optim.type = a.optim;
    if (t.optim.type == O::kAdamW) t.optim.lr = 3e-3;
    t.optim.accumulate_steps = a.accumulate;
    t.optim.clip_grad_norm = a.clip;
    t.monitoring.log_every = 5;
    t.optim.max_steps = 5;
    const TrainSummary first = run(t);
    t.optim.max_steps = 80;
    const TrainSummary last = run(t);
    EXPECT_LT(last.final_loss, 0.5 * first.final_loss)
        << first.final_loss << " -> " << last.final_loss;
    EXPECT_GT(last.train_accuracy, 0.5);
    EXPECT_EQ(last.skipped_steps, 0);
  }
}

TEST_F(Training, LearnedAlphaMovesAndIsSavedWithTheHead) {
  TrainerOptions t = options("learned");
  t.head.alpha = 2.0;  // far below α_low = log(0.9·6/0.1) ≈ 3.99: the gradient pushes α up
  t.head.alpha_learnable = true;
  t.optim.max_steps = 20;
  const TrainSummary s = run(t);
  EXPECT_GT(s.alpha, 2.05);
  auto saved = weights(t, s.checkpoint);
  ASSERT_TRUE(saved.count("head.alpha"));
  EXPECT_NEAR(saved["head.alpha"].item<double>(), s.alpha, 1e-6);
  checkpoint::LoadedCheckpoint c = checkpoint::openCheckpoint(s.checkpoint);
  EXPECT_NEAR(c.manifest.meta.at("alpha").get<double>(), s.alpha, 1e-6);
  EXPECT_TRUE(geometryFromJson(c.manifest.meta, "x").head.alpha_learnable);
}

// Steps 2 and 3 poisoned: both skipped and counted, and the parameters and momentum after step 4
// are exactly those of a clean run stopped after step 2.
TEST_F(Training, NonFiniteStepsAreSkippedAndLeaveTheWeightsUnchanged) {
  TrainerOptions clean = options("clean");
  clean.optim.max_steps = 2;
  const TrainSummary a = run(clean);
  TrainerOptions poisoned = options("poisoned");
  poisoned.optim.max_steps = 4;
  poisoned.optim.max_nan_steps = 3;
  poisoned.faults = checkpoint::FaultPlan::parse("train.nan_loss@step2,train.nan_loss@step3");
  const TrainSummary b = run(poisoned);
  EXPECT_EQ(a.skipped_steps, 0);
  EXPECT_EQ(b.skipped_steps, 2);
  auto wa = weights(clean, a.checkpoint), wb = weights(poisoned, b.checkpoint);
  ASSERT_EQ(wa.size(), wb.size());
  int compared = 0;
  for (const auto& [k, v] : wa) {
    // BatchNorm statistics run in the forward pass and legitimately differ.
    if (k.find("running_") != std::string::npos || k.find("num_batches") != std::string::npos)
      continue;
    EXPECT_TRUE(torch::equal(v, wb.at(k))) << k;
    ++compared;
  }
  EXPECT_GT(compared, 20);
}

// K consecutive skips abort at the next logging boundary (here: a run of 2 in steps 1-2, seen at
// the boundary after step 4), and no checkpoint is written after the abort.
TEST_F(Training, ConsecutiveNonFiniteStepsAbortAtTheNextLogBoundary) {
  TrainerOptions t = options("abort");
  t.optim.max_steps = 10;
  t.optim.max_nan_steps = 2;
  t.monitoring.log_every = 4;
  t.checkpoint.every_steps = 2;
  t.faults = checkpoint::FaultPlan::parse("train.nan_loss@step1,train.nan_loss@step2");
  try {
    run(t);
    FAIL() << "no abort";
  } catch (const TrainError& e) {
    EXPECT_NE(std::string(e.what()).find("optim.max_nan_steps"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("steps 1-4"), std::string::npos) << e.what();
  }
  // The checkpoint of step 2 was taken (finite weights: the steps were skipped); the abort at the
  // boundary after step 4 comes before that step's checkpoint, and nothing follows it.
  auto list = checkpoint::listCheckpoints(t.run.dir);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list.back().filename(), "step_2");

  // Fewer than K in a row: counted, not fatal.
  TrainerOptions ok = options("sparse");
  ok.optim.max_steps = 6;
  ok.optim.max_nan_steps = 2;
  ok.faults = checkpoint::FaultPlan::parse(
      "train.nan_loss@step1,train.nan_loss@step3,train.nan_loss@step5");
  EXPECT_EQ(run(ok).skipped_steps, 3);
}

// The CUDA path: bf16 autocast for the backbone (auto precision), channels_last, fp32 head.
TEST_F(Training, CudaRunsInBf16WithChannelsLast) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const HeadType head : {HeadType::kL2Softmax, HeadType::kArcFace}) {
    TrainerOptions t = options(std::string("cuda_") + enumName(head));
    t.run.device = "cuda";
    t.head.type = head;
    t.head.alpha_auto = true;
    t.head.scale = 16;
    t.head.margin = 0.3;
    t.optim.max_steps = 40;
    t.monitoring.log_every = 10;
    const TrainSummary s = run(t);
    EXPECT_EQ(s.precision, "bf16");
    EXPECT_EQ(s.skipped_steps, 0);
    EXPECT_TRUE(std::isfinite(s.final_loss));
    EXPECT_GT(s.train_accuracy, 0.3) << enumName(head);
  }
}
