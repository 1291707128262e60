// Tests of the config layer: defaults, every key from YAML and --set, round trip, digest.
#include "l2face/launch/internal/config.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>

#include "l2face/launch/internal/config_keys.h"

namespace l2face::launch {
namespace {

// A value that differs from the default for every key (where a second value exists), as YAML.
const std::vector<std::pair<std::string, std::string>> kNonDefault = {
    {"run.dir", "runs/exp 7"},  // a space: must come back quoted
    {"run.seed", "18446744073709551615"},
    {"run.device", "cpu"},
    {"run.threads", "3"},
    {"run.precision", "fp32"},
    {"run.channels_last", "false"},
    {"run.cuda_sync_debug", "error"},
    {"data.train", "/data/faces/train"},
    {"data.batch_size", "32"},
    {"data.global_batch", "512"},
    {"data.workers", "5"},
    {"data.prefetch", "2"},
    {"data.image_size", "96"},
    {"data.flip_p", "0.25"},
    {"data.random_resized_crop", "0.5"},
    {"data.crop_scale_min", "0.7"},
    {"data.crop_ratio_max", "1.2"},
    {"data.brightness", "0.2"},
    {"data.contrast", "0.3"},
    {"data.saturation", "0.4"},
    {"data.grayscale_p", "0.1"},
    {"data.blur_p", "0.15"},
    {"data.erase_p", "0.05"},
    {"data.max_bad_fraction", "0.002"},
    {"model.backbone", "face_resnet"},  // takes norm none and any side >= 48
    {"model.embedding_dim", "256"},
    {"model.norm", "none"},
    {"model.width", "16"},
    {"model.dropout", "0.2"},
    {"model.init", "/models/backbone.pth"},
    {"model.init_warmup_steps", "500"},
    {"model.init_warmup_lr_scale", "0.1"},
    {"head.type", "softmax"},
    {"head.alpha", "32.5"},
    {"head.alpha_learnable", "true"},
    {"head.p", "0.99"},
    {"head.bias", "false"},
    {"head.scale", "32"},
    {"head.margin", "0.35"},
    {"classifier.parallel", "sharded"},
    {"classifier.shard_min_classes", "1000000"},
    {"classifier.sample_rate", "0.1"},
    {"optim.type", "adamw"},
    {"optim.lr", "0.05"},
    {"optim.momentum", "0.85"},
    {"optim.weight_decay", "1e-4"},
    {"optim.nesterov", "true"},
    {"optim.betas", "[0.8, 0.99]"},
    {"optim.eps", "1e-6"},
    {"optim.no_decay_bn_bias", "true"},
    {"optim.max_steps", "5000"},
    {"optim.warmup_steps", "100"},
    {"optim.schedule", "step"},
    {"optim.milestones", "[2000, 4000]"},
    {"optim.gamma", "0.5"},
    {"optim.power", "1.5"},
    {"optim.accumulate_steps", "4"},
    {"optim.clip_grad_norm", "5"},
    {"optim.max_nan_steps", "3"},
    {"checkpoint.every_steps", "250"},
    {"checkpoint.keep_last", "0"},
    {"checkpoint.every_seconds", "1800"},
    {"checkpoint.keep_every", "5000"},
    {"checkpoint.async", "false"},
    {"checkpoint.fail_on_error", "true"},
    {"comm.backend", "mpi"},
    {"comm.timeout_seconds", "30"},
    {"comm.bucket_cap_mb", "4"},
    {"comm.first_bucket_mb", "0.5"},
    {"monitoring.serve", "false"},
    {"monitoring.port", "9500"},
    {"monitoring.port_fallback", "false"},
    {"monitoring.job", "exp7"},
    {"monitoring.targets_dir", "/srv/targets"},
    {"monitoring.bind", "0.0.0.0"},
    {"monitoring.log_every", "5"},
    {"eval.pairs", "/data/lfw/pairs.txt"},
    {"eval.images", "/data/lfw"},
    {"eval.bins", "/data/lfw.bin,/data/cfp_fp.bin"},
    {"eval.templates", "/data/ijbc/templates.csv"},
    {"eval.template_pairs", "/data/ijbc/template_pairs.csv"},
    {"eval.media_pool", "true"},
    {"eval.all_vs_all", "/data/eval"},
    {"eval.flip", "false"},
    {"eval.batch_size", "64"},
    {"eval.folds", "5"},
    {"eval.far", "[1e-4, 1e-3, 0.01]"},
    {"eval.every_steps", "1000"},
};

std::string nonDefaultYaml() {
  std::map<std::string, std::string> body;  // section -> lines
  std::vector<std::string> order;
  for (const auto& [name, value] : kNonDefault) {
    std::string section = name.substr(0, name.find('.'));
    if (!body.count(section)) order.push_back(section);
    body[section] += "  " + name.substr(name.find('.') + 1) + ": " +
                     (name == "run.dir" ? "\"" + value + "\"" : value) + "\n";
  }
  std::string yaml;
  for (const auto& s : order) yaml += s + ":\n" + body[s];
  return yaml;
}

TEST(Config, DefaultsComeFromTheOptionStructs) {
  Config c = loadConfigFromString("", "empty.yaml", {});
  EXPECT_EQ(c, Config{});
  EXPECT_EQ(c.data.batch_size, 64);
  EXPECT_EQ(c.run.dir, "runs/default");
  EXPECT_DOUBLE_EQ(c.head.alpha, 16.0);
  EXPECT_FALSE(c.head.alpha_auto);
  EXPECT_EQ(c.eval.far, (std::vector<double>{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1}));
  EXPECT_EQ(loadConfig("", {}), Config{});
  EXPECT_EQ(loadConfigFromString("# only a comment\n", "c.yaml", {}), Config{});
  EXPECT_EQ(loadConfigFromString("data:\n# all keys commented out\n", "c.yaml", {}), Config{});
}

TEST(Config, EveryKeyIsCoveredByThisTest) {
  std::set<std::string> table, tested;
  for (const auto& k : detail::keyTable()) table.insert(k.name());
  for (const auto& [name, value] : kNonDefault) tested.insert(name);
  EXPECT_EQ(table, tested) << "add the new key to kNonDefault (and a field check below)";
}

TEST(Config, EveryKeyParsesFromYaml) {
  Config c = loadConfigFromString(nonDefaultYaml(), "all.yaml", {});
  EXPECT_EQ(c.run.dir, "runs/exp 7");
  EXPECT_EQ(c.run.seed, 18446744073709551615ull);
  EXPECT_EQ(c.run.device, "cpu");
  EXPECT_EQ(c.run.threads, 3);
  EXPECT_EQ(c.run.precision, "fp32");
  EXPECT_EQ(c.run.channels_last, trainer::ChannelsLast::kOff);
  EXPECT_EQ(c.run.cuda_sync_debug, trainer::SyncDebug::kError);
  EXPECT_EQ(c.data.train, "/data/faces/train");
  EXPECT_EQ(c.data.batch_size, 32);
  EXPECT_EQ(c.data.global_batch, 512);
  EXPECT_EQ(c.data.workers, 5);
  EXPECT_EQ(c.data.prefetch, 2);
  EXPECT_EQ(c.data.image_size, 96);
  EXPECT_DOUBLE_EQ(c.data.flip_p, 0.25);
  EXPECT_EQ(c.model.backbone, "face_resnet");
  EXPECT_EQ(c.model.embedding_dim, 256);
  EXPECT_EQ(c.model.norm, "none");
  EXPECT_EQ(c.model.width, 16);
  EXPECT_DOUBLE_EQ(c.model.dropout, 0.2);
  EXPECT_EQ(c.model.init, "/models/backbone.pth");
  EXPECT_EQ(c.model.init_warmup_steps, 500);
  EXPECT_DOUBLE_EQ(c.model.init_warmup_lr_scale, 0.1);
  EXPECT_EQ(c.head.type, trainer::HeadType::kSoftmax);
  EXPECT_DOUBLE_EQ(c.head.alpha, 32.5);
  EXPECT_FALSE(c.head.alpha_auto);
  EXPECT_TRUE(c.head.alpha_learnable);
  EXPECT_DOUBLE_EQ(c.head.p, 0.99);
  EXPECT_FALSE(c.head.bias);
  EXPECT_DOUBLE_EQ(c.head.scale, 32.0);
  EXPECT_DOUBLE_EQ(c.head.margin, 0.35);
  EXPECT_EQ(c.classifier.parallel, trainer::ClassifierPlacement::kSharded);
  EXPECT_EQ(c.classifier.shard_min_classes, 1000000);
  EXPECT_EQ(c.classifier.sample_rate, 0.1);
  EXPECT_EQ(c.optim.type, trainer::OptimType::kAdamW);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.05);
  EXPECT_DOUBLE_EQ(c.optim.momentum, 0.85);
  EXPECT_DOUBLE_EQ(c.optim.weight_decay, 1e-4);
  EXPECT_TRUE(c.optim.nesterov);
  EXPECT_EQ(c.optim.betas, (std::vector<double>{0.8, 0.99}));
  EXPECT_DOUBLE_EQ(c.optim.eps, 1e-6);
  EXPECT_TRUE(c.optim.no_decay_bn_bias);
  EXPECT_EQ(c.optim.max_steps, 5000);
  EXPECT_EQ(c.optim.warmup_steps, 100);
  EXPECT_EQ(c.optim.schedule, "step");
  EXPECT_EQ(c.optim.milestones, (std::vector<int64_t>{2000, 4000}));
  EXPECT_DOUBLE_EQ(c.optim.gamma, 0.5);
  EXPECT_DOUBLE_EQ(c.optim.power, 1.5);
  EXPECT_EQ(c.optim.accumulate_steps, 4);
  EXPECT_DOUBLE_EQ(c.optim.clip_grad_norm, 5.0);
  EXPECT_EQ(c.optim.max_nan_steps, 3);
  EXPECT_EQ(c.checkpoint.every_steps, 250);
  EXPECT_EQ(c.checkpoint.keep_last, 0);
  EXPECT_EQ(c.checkpoint.every_seconds, 1800);
  EXPECT_EQ(c.checkpoint.keep_every, 5000);
  EXPECT_FALSE(c.checkpoint.async);
  EXPECT_TRUE(c.checkpoint.fail_on_error);
  EXPECT_EQ(c.comm.backend, l2face::comm::Backend::kMpi);
  EXPECT_EQ(c.comm.timeout_seconds, 30);
  EXPECT_EQ(c.comm.bucket_cap_mb, 4);
  EXPECT_EQ(c.comm.first_bucket_mb, 0.5);
  EXPECT_EQ(c.monitoring.port, 9500);
  EXPECT_FALSE(c.monitoring.serve);
  EXPECT_FALSE(c.monitoring.port_fallback);
  EXPECT_EQ(c.monitoring.job, "exp7");
  EXPECT_EQ(c.monitoring.targets_dir, "/srv/targets");
  EXPECT_EQ(c.monitoring.bind, "0.0.0.0");
  EXPECT_EQ(c.monitoring.log_every, 5);
  EXPECT_EQ(c.eval.pairs, "/data/lfw/pairs.txt");
  EXPECT_EQ(c.eval.images, "/data/lfw");
  EXPECT_EQ(c.eval.bins, "/data/lfw.bin,/data/cfp_fp.bin");
  EXPECT_EQ(c.eval.templates, "/data/ijbc/templates.csv");
  EXPECT_EQ(c.eval.template_pairs, "/data/ijbc/template_pairs.csv");
  EXPECT_TRUE(c.eval.media_pool);
  EXPECT_EQ(c.eval.all_vs_all, "/data/eval");
  EXPECT_FALSE(c.eval.flip);
  EXPECT_EQ(c.eval.batch_size, 64);
  EXPECT_EQ(c.eval.folds, 5);
  EXPECT_EQ(c.eval.far, (std::vector<double>{1e-4, 1e-3, 0.01}));
  EXPECT_EQ(c.eval.every_steps, 1000);
  const Config defaults;
  for (const auto& k : detail::keyTable()) {
    EXPECT_NE(k.get(c), k.get(defaults)) << k.name() << " was not changed by the test YAML";
  }
}

TEST(Config, ToYamlRoundTripsExactly) {
  for (const Config& c : {Config{}, loadConfigFromString(nonDefaultYaml(), "all.yaml", {}),
                          loadConfigFromString("", "x", {"head.alpha=auto", "eval.far=[]"})}) {
    std::string yaml = toYaml(c);
    Config back = loadConfigFromString(yaml, "effective.yaml", {});
    EXPECT_EQ(back, c) << yaml;
    EXPECT_EQ(toYaml(back), yaml);
    // Field by field too, so equality cannot hide a lossy key.
    EXPECT_EQ(back.run.seed, c.run.seed);
    EXPECT_EQ(back.run.dir, c.run.dir);
    EXPECT_EQ(back.head.alpha, c.head.alpha);
    EXPECT_EQ(back.head.alpha_auto, c.head.alpha_auto);
    EXPECT_EQ(back.optim.lr, c.optim.lr);
    EXPECT_EQ(back.optim.weight_decay, c.optim.weight_decay);
    EXPECT_EQ(back.eval.far, c.eval.far);
    EXPECT_EQ(back.optim.milestones, c.optim.milestones);
  }
}

TEST(Config, ToYamlIsReadable) {
  std::string yaml = toYaml(loadConfigFromString(nonDefaultYaml(), "all.yaml", {}));
  EXPECT_NE(yaml.find("\ndata:\n  train: /data/faces/train\n  batch_size: 32\n"), std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  dir: \"runs/exp 7\"\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  bind: \"0.0.0.0\"\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  lr: 0.05\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  far: [0.0001, 0.001, 0.01]\n"), std::string::npos) << yaml;
  EXPECT_NE(toYaml(Config{}).find("  pairs: \"\"\n"), std::string::npos);
}

// Counts an aggregate's fields (the Boost.PFR trick): T{any, any, ...} compiles up to N.
struct AnyField {
  template <class T>
  operator T() const;
};
template <class T, class... A>
constexpr auto braceable(int) -> decltype(T{A{}...}, true) {
  return true;
}
template <class T, class... A>
constexpr bool braceable(...) {
  return false;
}
template <class T, class... A>
constexpr size_t fieldCount() {
  if constexpr (braceable<T, A..., AnyField>(0)) {
    return fieldCount<T, A..., AnyField>();
  } else {
    return sizeof...(A);
  }
}

// A field added to an options struct but not to the key table could never be configured.
TEST(Config, KeyTableMapsEveryOptionsField) {
  std::map<std::string, size_t> keys;
  for (const auto& k : detail::keyTable()) ++keys[k.section];
  EXPECT_EQ(keys["run"], fieldCount<trainer::RunOptions>());
  EXPECT_EQ(keys["data"], fieldCount<data::DataOptions>());
  EXPECT_EQ(keys["model"], fieldCount<trainer::ModelOptions>());
  EXPECT_EQ(keys["head"] + 1, fieldCount<trainer::HeadOptions>());  // alpha covers alpha_auto
  EXPECT_EQ(keys["classifier"], fieldCount<trainer::ClassifierOptions>());
  EXPECT_EQ(keys["optim"], fieldCount<trainer::OptimOptions>());
  EXPECT_EQ(keys["checkpoint"], fieldCount<checkpoint::CheckpointOptions>());
  EXPECT_EQ(keys["monitoring"], fieldCount<monitoring::MonitoringOptions>());
  EXPECT_EQ(keys["eval"], fieldCount<eval::EvalOptions>());
  // CommOptions::tensors is no key: l2face train sets it from run.device.
  EXPECT_EQ(keys["comm"] + 1, fieldCount<l2face::comm::CommOptions>());
  EXPECT_EQ(keys.size(), detail::sectionTable().size());
}

TEST(Config, EveryKeyCanBeSetOnTheCommandLine) {
  std::vector<std::string> sets;
  for (const auto& [name, value] : kNonDefault) sets.push_back(name + "=" + value);
  EXPECT_EQ(loadConfigFromString("", "x", sets),
            loadConfigFromString(nonDefaultYaml(), "all.yaml", {}));
}

TEST(Config, SetOverridesTheFileAndLaterSetWins) {
  const std::string file = "data:\n  batch_size: 16\n  workers: 2\n";
  Config c = loadConfigFromString(file, "f.yaml", {"data.batch_size=8", "data.batch_size=4"});
  EXPECT_EQ(c.data.batch_size, 4);
  EXPECT_EQ(c.data.workers, 2);  // untouched by --set
  EXPECT_EQ(loadConfigFromString("", "x", {" data.workers = 7"}).data.workers, 7);
}

TEST(Config, SetParsesListsAndAuto) {
  Config c = loadConfigFromString("head:\n  alpha: 24\n", "f.yaml",
                                  {"eval.far=[1e-4,1e-3]", "head.alpha=auto"});
  EXPECT_EQ(c.eval.far, (std::vector<double>{1e-4, 1e-3}));
  EXPECT_TRUE(c.head.alpha_auto);
  EXPECT_DOUBLE_EQ(c.head.alpha, trainer::HeadOptions{}.alpha);  // reset: round trip is exact
  EXPECT_NE(toYaml(c).find("  alpha: auto\n"), std::string::npos);

  Config fixed = loadConfigFromString("head:\n  alpha: auto\n", "f.yaml", {"head.alpha=20"});
  EXPECT_FALSE(fixed.head.alpha_auto);
  EXPECT_DOUBLE_EQ(fixed.head.alpha, 20.0);

  Config one = loadConfigFromString("", "x", {"optim.schedule=step", "optim.milestones=500"});
  EXPECT_EQ(one.optim.milestones, (std::vector<int64_t>{500}));  // a scalar is a 1-list
  EXPECT_TRUE(loadConfigFromString("", "x", {"eval.far=[]"}).eval.far.empty());
}

TEST(Config, SetParsesStringsAndBools) {
  Config c = loadConfigFromString("", "x",
                                  {"run.dir=\"my run\"", "eval.images=", "eval.flip=no",
                                   "optim.nesterov=True", "monitoring.bind=0.0.0.0"});
  EXPECT_EQ(c.run.dir, "my run");
  EXPECT_EQ(c.eval.images, "");
  EXPECT_FALSE(c.eval.flip);
  EXPECT_TRUE(c.optim.nesterov);
  EXPECT_EQ(c.monitoring.bind, "0.0.0.0");
}

TEST(Config, SamplingNeedsAShardedClassifier) {
  EXPECT_EQ(loadConfigFromString("", "x", {"classifier.sample_rate=0.5"}).classifier.sample_rate,
            0.5);
  try {
    loadConfigFromString("", "x", {"classifier.parallel=replicated", "classifier.sample_rate=0.5"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("classifier.sample_rate < 1 needs classifier.parallel"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(loadConfigFromString("", "x", {"classifier.sample_rate=0"}), ConfigError);
  EXPECT_THROW(loadConfigFromString("", "x", {"classifier.parallel=model"}), ConfigError);
}

// The kind keys take exactly the words of their name tables, write them back unchanged, and name
// the choices for anything else.
TEST(Config, KindKeysFollowTheirNameTables) {
  for (const auto& e : trainer::EnumNames<trainer::HeadType>::table) {
    const Config c = loadConfigFromString("", "x", {std::string("head.type=") + e.name});
    EXPECT_EQ(c.head.type, e.value);
    EXPECT_NE(toYaml(c).find(std::string("type: ") + e.name + "\n"), std::string::npos) << e.name;
  }
  for (const auto& e : trainer::EnumNames<trainer::OptimType>::table) {
    EXPECT_EQ(
        loadConfigFromString(std::string("optim:\n  type: ") + e.name + "\n", "x", {}).optim.type,
        e.value);
  }
  for (const auto& e : trainer::EnumNames<trainer::ClassifierPlacement>::table) {
    const Config c = loadConfigFromString("", "x", {std::string("classifier.parallel=") + e.name});
    EXPECT_EQ(c.classifier.parallel, e.value);
  }
  try {
    loadConfigFromString("", "x", {"optim.type=adam"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("must be one of sgd, adamw, got 'adam'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(loadConfigFromString("", "x", {"head.type=Arcface"}), ConfigError);
}

TEST(Config, DigestFollowsTheChosenSectionsOnly) {
  const Config base;
  const std::string d = configDigest(base, {"model", "head"});
  EXPECT_EQ(d.size(), 16u);
  EXPECT_EQ(d, configDigest(Config{}, {"model", "head"}));  // deterministic
  EXPECT_EQ(d, configDigest(base, {"head", "model"}));      // order-free
  // Pinned: checkpoints store it, so a change here breaks resuming older runs. The classifier
  // section is left out: its placement and sample rate may change between a run and its resume.
  EXPECT_EQ(d, "3e33eaf1cf07d20b");

  Config init =
      loadConfigFromString("", "x", {"model.init=/m/backbone.pth", "model.init_warmup_steps=9"});
  EXPECT_EQ(configDigest(init, {"model", "head"}), d);  // where the weights start: not digested

  Config model = base;
  model.model.embedding_dim = 256;
  EXPECT_NE(configDigest(model, {"model", "head"}), d);
  Config head = loadConfigFromString("", "x", {"head.alpha=auto"});
  EXPECT_NE(configDigest(head, {"model", "head"}), d);
  Config data = loadConfigFromString("", "x", {"data.batch_size=8", "optim.lr=0.01"});
  EXPECT_EQ(configDigest(data, {"model", "head"}), d);
  EXPECT_NE(configDigest(data, {"data"}), configDigest(base, {"data"}));
  EXPECT_NE(configDigest(base, {"data"}), configDigest(base, {"optim"}));
  EXPECT_THROW(configDigest(base, {"modle"}), ConfigError);
}

}  // namespace
}  // namespace l2face::launch
