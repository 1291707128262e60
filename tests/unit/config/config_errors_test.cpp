// Tests of config errors: each kind names the place (file:line or the --set argument) and key.
#include <gtest/gtest.h>

#include "l2face/launch/internal/config.h"

namespace l2face::launch {
namespace {

// The ConfigError message, or "(no error)".
std::string errorOf(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  try {
    loadConfigFromString(yaml, "t.yaml", sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ConfigErrors, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(errorOf("run:\n  seed: 3\ndata:\n  bacth_size: 32\n"),
            "t.yaml:4: unknown key 'data.bacth_size' (did you mean 'data.batch_size'?)");
  EXPECT_EQ(errorOf("data:\n  lr: 0.1\n"),
            "t.yaml:2: unknown key 'data.lr' (did you mean 'optim.lr'?)");
  EXPECT_EQ(errorOf("checkpoint:\n  zzzzzz: 1\n"),
            "t.yaml:2: unknown key 'checkpoint.zzzzzz' (checkpoint has: every_steps, "
            "every_seconds, keep_last, keep_every, async, fail_on_error)");
}

TEST(ConfigErrors, UnknownSection) {
  EXPECT_EQ(errorOf("dta:\n  batch_size: 32\n"),
            "t.yaml:1: unknown section 'dta' (did you mean 'data'?)");
  EXPECT_EQ(errorOf("\n\nzzzzzzzz: {}\n"),
            "t.yaml:3: unknown section 'zzzzzzzz' (sections: run, data, model, head, classifier, "
            "optim, checkpoint, comm, monitoring, eval)");
}

TEST(ConfigErrors, WrongType) {
  EXPECT_EQ(errorOf("data:\n  batch_size: abc\n"),
            "t.yaml:2: data.batch_size: expected an integer, got 'abc'");
  EXPECT_EQ(errorOf("data:\n  batch_size: 1.5\n"),
            "t.yaml:2: data.batch_size: expected an integer, got '1.5'");
  EXPECT_EQ(errorOf("data:\n  batch_size:\n"),
            "t.yaml:2: data.batch_size: expected an integer, got an empty value");
  EXPECT_EQ(errorOf("data:\n  batch_size: 99999999999\n"),
            "t.yaml:2: data.batch_size: expected an integer, got '99999999999' (out of range)");
  EXPECT_EQ(errorOf("run:\n  seed: -1\n"),
            "t.yaml:2: run.seed: expected an integer >= 0, got '-1'");
  EXPECT_EQ(errorOf("optim:\n  lr: [0.1]\n"), "t.yaml:2: optim.lr: expected a number, got a list");
  EXPECT_EQ(errorOf("optim:\n  lr: .inf\n"), "t.yaml:2: optim.lr: expected a number, got '.inf'");
  EXPECT_EQ(errorOf("optim:\n  nesterov: maybe\n"),
            "t.yaml:2: optim.nesterov: expected a bool (true or false), got 'maybe'");
  EXPECT_EQ(errorOf("run:\n  dir: {a: 1}\n"),
            "t.yaml:2: run.dir: expected a string, got a mapping");
  EXPECT_EQ(errorOf("eval:\n  far:\n    - 0.001\n    - abc\n"),
            "t.yaml:2: eval.far: expected a number, got 'abc' (element 2)");
  EXPECT_EQ(errorOf("head:\n  alpha: big\n"),
            "t.yaml:2: head.alpha: expected a number or auto, got 'big'");
}

TEST(ConfigErrors, OutOfRange) {
  EXPECT_EQ(errorOf("data:\n  batch_size: 0\n"), "t.yaml:2: data.batch_size: must be >= 1, got 0");
  EXPECT_EQ(errorOf("data:\n  flip_p: 1.5\n"), "t.yaml:2: data.flip_p: must be in [0, 1], got 1.5");
  EXPECT_EQ(errorOf("head:\n  p: 1\n"), "t.yaml:2: head.p: must be in (0, 1), got 1");
  EXPECT_EQ(errorOf("head:\n  alpha: 0\n"), "t.yaml:2: head.alpha: must be > 0, got 0");
  EXPECT_EQ(errorOf("monitoring:\n  port: 70000\n"),
            "t.yaml:2: monitoring.port: must be in [0, 65535], got 70000");
  EXPECT_EQ(errorOf("eval:\n  far: [0.5, 1]\n"),
            "t.yaml:2: eval.far: each value must be in (0, 1), got 1 (element 2)");
  EXPECT_EQ(errorOf("optim:\n  milestones: [200, 100]\n"),
            "t.yaml:2: optim.milestones: must be strictly ascending, got [200, 100]");
  EXPECT_EQ(errorOf("run:\n  dir: \"\"\n"), "t.yaml:2: run.dir: must not be empty");
}

TEST(ConfigErrors, InvalidChoiceListsTheChoices) {
  EXPECT_EQ(errorOf("run:\n  device: gpu\n"),
            "t.yaml:2: run.device: must be one of auto, cpu, cuda, got 'gpu'");
  EXPECT_EQ(errorOf("optim:\n  schedule: linear\n"),
            "t.yaml:2: optim.schedule: must be one of constant, cosine, step, polynomial, got "
            "'linear'");
}

TEST(ConfigErrors, StructureErrors) {
  EXPECT_EQ(errorOf("data: 5\n"), "t.yaml:1: section 'data' must be a mapping of keys, got '5'");
  EXPECT_EQ(errorOf("data:\n  - batch_size\n"),
            "t.yaml:1: section 'data' must be a mapping of keys, got a list");
  EXPECT_EQ(errorOf("- data\n"),
            "t.yaml:1: expected a mapping of sections (run:, data:, ...), got a list");
  EXPECT_EQ(errorOf("data:\n  workers: 1\n  workers: 2\n"),
            "t.yaml:3: key 'data.workers' given twice (first at t.yaml:2)");
  EXPECT_EQ(errorOf("data: {}\nrun: {}\ndata: {}\n"),
            "t.yaml:3: section 'data' given twice (first at t.yaml:1)");
}

TEST(ConfigErrors, MalformedYamlNamesTheLine) {
  EXPECT_EQ(errorOf("data:\n  batch_size: [1, 2\n  workers: 3\n"),
            "t.yaml:3: malformed YAML: end of sequence flow not found");
  EXPECT_EQ(errorOf("data:\n batch_size: 1\n  workers: 3\n"),
            "t.yaml:3: malformed YAML: illegal map value");
}

TEST(ConfigErrors, SetErrorsNameTheArgument) {
  EXPECT_EQ(errorOf("", {"data.batch_size=0"}), "--set data.batch_size=0: must be >= 1, got 0");
  EXPECT_EQ(errorOf("", {"data.batch_size=x"}),
            "--set data.batch_size=x: expected an integer, got 'x'");
  EXPECT_EQ(errorOf("", {"data.batch_size"}),
            "--set data.batch_size: expected section.key=value (no '=')");
  EXPECT_EQ(errorOf("", {"lr=0.1"}),
            "--set lr=0.1: expected section.key=value (no section) (did you mean 'optim.lr'?)");
  EXPECT_EQ(errorOf("", {"batch_size=4"}),
            "--set batch_size=4: expected section.key=value (no section) (did you mean "
            "'data.batch_size' or 'eval.batch_size'?)");
  EXPECT_EQ(errorOf("", {"data.bacth_size=4"}),
            "--set data.bacth_size=4: unknown key 'data.bacth_size' (did you mean "
            "'data.batch_size'?)");
  EXPECT_EQ(errorOf("", {"dta.batch_size=4"}),
            "--set dta.batch_size=4: unknown section 'dta' (did you mean 'data'?)");
  EXPECT_EQ(errorOf("", {"eval.far=[1e-3,"}),
            "--set eval.far=[1e-3,: malformed value: end of sequence flow not found");
  EXPECT_EQ(errorOf("", {"run.device=gpu"}),
            "--set run.device=gpu: must be one of auto, cpu, cuda, got 'gpu'");
}

TEST(ConfigErrors, CrossKeyChecksBlameTheLaterSetting) {
  EXPECT_EQ(errorOf("optim:\n  max_steps: 100\n  warmup_steps: 200\n"),
            "t.yaml:3: optim.warmup_steps (200) must be <= optim.max_steps (100)");
  EXPECT_EQ(errorOf("optim:\n  warmup_steps: 200\n  max_steps: 1000\n", {"optim.max_steps=10"}),
            "--set optim.max_steps=10: optim.warmup_steps (200) must be <= optim.max_steps (10)");
  EXPECT_EQ(errorOf("optim:\n  schedule: step\n"),
            "t.yaml:2: optim.schedule step needs optim.milestones (ascending steps, e.g. "
            "[6000, 9000])");
  EXPECT_EQ(errorOf("eval:\n  every_steps: 100\n"),
            "t.yaml:2: eval.every_steps > 0 needs a set to evaluate: eval.pairs, eval.bins, "
            "eval.templates or eval.all_vs_all");
  EXPECT_EQ(errorOf("data:\n  image_size: 100\n"),
            "t.yaml:2: model.backbone tiny needs data.image_size divisible by 16, got 100");
  EXPECT_EQ(errorOf("optim:\n  schedule: step\n  milestones: [10]\n"), "(no error)");
  EXPECT_EQ(errorOf("optim:\n  betas: [0.9]\n"),
            "t.yaml:2: optim.betas needs two values [beta1, beta2], got 1");
  EXPECT_EQ(errorOf("model:\n  backbone: iresnet50\n  norm: none\n"),
            "t.yaml:3: model.norm none is available for the tiny and face_resnet backbones only, "
            "not iresnet50");
  EXPECT_EQ(errorOf("run:\n  device: cpu\n  precision: bf16\n"),
            "t.yaml:3: run.precision bf16 needs CUDA; on run.device cpu use fp32 (or auto)");
}

TEST(ConfigErrors, MissingFileAndDirectory) {
  try {
    loadConfig("/nonexistent/l2face.yaml", {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/l2face.yaml: config file not found");
  }
  try {
    loadConfig(L2FACE_SOURCE_DIR "/configs", {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 L2FACE_SOURCE_DIR "/configs: is a directory, expected a YAML config file");
  }
}

}  // namespace
}  // namespace l2face::launch
