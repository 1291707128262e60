// Backbones: output shapes, parameter counts against the published architectures, and an
// independent PyTorch definition (backbone_oracle.py) as the oracle for names, shapes, outputs.
#include "l2face/trainer/internal/backbone.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "subprocess.h"

using namespace l2face::trainer;

namespace {

struct Published {
  const char* key;  // the oracle's name for it
  const char* backbone;
  int height, width, dim;
  const char* norm;
  int64_t exact;     // this implementation and the oracle, all parameters (frozen ones too)
  double published;  // the literature's rounded figure
  double tolerance;  // relative
};

// insightface's IResNets at 112×112 with a 512-d embedding: 24.0M / 34.1M / 43.6M / 65.2M.
// MobileFaceNet (Chen et al. 2018): "0.99M" with its 128-d output; 512-d adds 384×512 + BN.
// Face-ResNet (the center-loss network, no BN, 112×96): counted from the architecture by hand,
// 22,292,416 conv + 5,243,392 fc5 (5×4×512 -> 512) + 7,264 PReLU slopes = 27,543,072.
const Published kPublished[] = {
    {"iresnet18", "iresnet18", 112, 112, 512, "batch", 24025600, 24.0e6, 0.002},
    {"iresnet34", "iresnet34", 112, 112, 512, "batch", 34139328, 34.1e6, 0.002},
    {"iresnet50", "iresnet50", 112, 112, 512, "batch", 43590848, 43.6e6, 0.002},
    {"iresnet100", "iresnet100", 112, 112, 512, "batch", 65156160, 65.2e6, 0.002},
    {"mobilefacenet_128d", "mobilefacenet", 112, 112, 128, "batch", 1003136, 0.99e6, 0.015},
    // No published figures for these variants: the exact count (and the oracle) only.
    {"mobilefacenet", "mobilefacenet", 112, 112, 512, "batch", 1200512, 1200512, 0},
    {"face_resnet_nobn", "face_resnet", 112, 96, 512, "none", 27543072, 27543072, 0},
    {"face_resnet", "face_resnet", 112, 96, 512, "batch", 27550336, 27550336, 0},
};

std::shared_ptr<BackboneImpl> build(const Published& p) {
  ModelOptions o;
  o.backbone = p.backbone;
  o.embedding_dim = p.dim;
  o.norm = p.norm;
  return makeBackbone(o, p.height, p.width);
}

using l2face::testing::runCommand;

std::string python() { return l2face::testing::venvPython("torch"); }

// One intra-op thread: on a shared, oversubscribed machine OpenMP's spinning barriers make two
// threads up to ten times slower than one.
struct OneThread {
  OneThread() { torch::set_num_threads(1); }
};

const std::string kOracle =
    std::string(L2FACE_SOURCE_DIR) + "/tests/unit/trainer/backbone_oracle.py";

std::map<std::string, std::vector<int64_t>> tensorShapes(torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& kv : m.named_parameters()) out[kv.key()] = kv.value().sizes().vec();
  for (const auto& kv : m.named_buffers()) out[kv.key()] = kv.value().sizes().vec();
  return out;
}

}  // namespace

TEST(Backbone, ParameterCountsMatchThePublishedArchitectures) {
  OneThread one;
  for (const Published& p : kPublished) {
    auto net = build(p);
    const int64_t n = parameterCount(*net);
    EXPECT_EQ(n, p.exact) << p.key;
    EXPECT_NEAR(static_cast<double>(n) / p.published, 1.0, p.tolerance) << p.key;
  }
}

TEST(Backbone, EveryBackboneEmbedsToTheConfiguredDimension) {
  OneThread one;
  for (const char* name : {"tiny", "face_resnet", "iresnet18", "iresnet34", "iresnet50",
                           "iresnet100", "mobilefacenet"}) {
    ModelOptions o;
    o.backbone = name;
    o.embedding_dim = 40;
    o.width = 8;
    // Small, non-square inputs: tiny needs multiples of 16, face_resnet at least 48.
    const std::string n = name;
    const int h = n == "face_resnet" ? 64 : 32, w = n == "tiny" ? 48 : n == "face_resnet" ? 48 : 24;
    auto net = makeBackbone(o, h, w);
    net->train();  // batch statistics: the path training takes
    torch::NoGradGuard no_grad;
    torch::Tensor e = net->forward(torch::randn({2, 3, h, w}));
    EXPECT_EQ(e.sizes(), (std::vector<int64_t>{2, 40})) << name;
    EXPECT_EQ(net->embedding_dim, 40);
    EXPECT_TRUE(e.isfinite().all().item<bool>()) << name;
  }
}

// model.width scales every Face-ResNet width (conv1a has `width` channels; 32 is the original):
// the exact parameter count, by hand, for width c without BatchNorm (each 3×3 unit: weights,
// bias, one PReLU slope per channel), and a forward pass at the experiments' 64×64.
TEST(Backbone, FaceResNetWidthScalesEveryStage) {
  OneThread one;
  auto count = [](int64_t c, int64_t h5, int64_t w5, int64_t dim) {
    auto unit = [](int64_t in, int64_t out) { return 9 * in * out + 2 * out; };
    return unit(3, c) + unit(c, 2 * c) + 2 * unit(2 * c, 2 * c) + unit(2 * c, 4 * c) +
           4 * unit(4 * c, 4 * c) + unit(4 * c, 8 * c) + 10 * unit(8 * c, 8 * c) +
           unit(8 * c, 16 * c) + 6 * unit(16 * c, 16 * c) + 16 * c * h5 * w5 * dim + dim;
  };
  EXPECT_EQ(count(32, 5, 4, 512), 27543072);  // the published network, as counted above
  ModelOptions o;
  o.backbone = "face_resnet";
  o.norm = "none";
  o.width = 8;
  o.embedding_dim = 64;
  auto net = makeBackbone(o, 64, 64);  // 64 -> 30 -> 14 -> 6 -> 2 at fc5
  EXPECT_EQ(parameterCount(*net), count(8, 2, 2, 64));
  const auto y = net->forward(torch::randn({2, 3, 64, 64}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 64}));
}

TEST(Backbone, TinyShapesAndErrors) {
  ModelOptions o;
  o.embedding_dim = 64;
  o.width = 8;
  for (int size : {32, 64, 112}) {
    auto net = makeBackbone(o, size);
    net->eval();
    torch::Tensor e = net->forward(torch::randn({2, 3, size, size}));
    EXPECT_EQ(e.sizes(), (std::vector<int64_t>{2, 64}));
  }
  o.norm = "none";
  auto plain = makeBackbone(o, 32);
  for (const auto& kv : plain->named_buffers()) ADD_FAILURE() << "unexpected buffer " << kv.key();
  EXPECT_THROW(makeBackbone(o, 40), std::invalid_argument);
  o.backbone = "resnet_what";
  EXPECT_THROW(makeBackbone(o, 32), std::invalid_argument);
  o.backbone = "iresnet50";  // no BN-free variant
  EXPECT_THROW(makeBackbone(o, 112), std::invalid_argument);
  o.backbone = "face_resnet";
  EXPECT_THROW(makeBackbone(o, 44), std::invalid_argument);  // pools down to nothing
  EXPECT_NO_THROW(makeBackbone(o, 48));
}

// Same parameter and buffer names and shapes as the independent PyTorch definitions, so
// insightface-style state dicts map one to one.
TEST(BackboneOracle, NamesAndShapesMatchThePyTorchDefinitions) {
  OneThread one;
  const std::string py = python();
  if (py.empty()) GTEST_SKIP() << "no .venv python with torch";
  auto [rc, out] = runCommand("'" + py + "' '" + kOracle + "' counts");
  ASSERT_EQ(rc, 0) << out;
  nlohmann::json j = nlohmann::json::parse(out);
  for (const Published& p : kPublished) {
    SCOPED_TRACE(p.key);
    const auto& ref = j.at(p.key);
    auto net = build(p);
    EXPECT_EQ(parameterCount(*net), ref.at("parameters").get<int64_t>());
    auto mine = tensorShapes(*net);
    std::map<std::string, std::vector<int64_t>> theirs;
    for (auto& [k, v] : ref.at("tensors").items()) theirs[k] = v.get<std::vector<int64_t>>();
    EXPECT_EQ(mine.size(), theirs.size());
    for (const auto& [k, shape] : theirs) {
      auto it = mine.find(k);
      if (it == mine.end()) {
        ADD_FAILURE() << "missing " << k;
      } else {
        EXPECT_EQ(it->second, shape) << k;
      }
    }
  }
}

// Weights written by PyTorch load by name and give the same embeddings (eval mode, with
// non-trivial BN statistics): the layer order and wiring match, not only the shapes.
TEST(BackboneOracle, PyTorchWeightsLoadByNameAndGiveTheSameOutputs) {
  OneThread one;
  const std::string py = python();
  if (py.empty()) GTEST_SKIP() << "no .venv python with torch";
  const auto dir =
      std::filesystem::temp_directory_path() / ("l2face_oracle_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto [rc, out] = runCommand("'" + py + "' '" + kOracle + "' forward '" + dir.string() + "'");
  ASSERT_EQ(rc, 0) << out;
  struct Case {
    const char* name;
    int h, w;
    const char* norm;
  };
  for (const Case& c :
       {Case{"iresnet18", 32, 32, "batch"}, Case{"mobilefacenet", 112, 112, "batch"}}) {
    SCOPED_TRACE(c.name);
    std::ifstream in(dir / (std::string(c.name) + ".pt"), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    c10::Dict<c10::IValue, c10::IValue> saved = torch::pickle_load(bytes).toGenericDict();
    c10::Dict<c10::IValue, c10::IValue> state = saved.at("state").toGenericDict();
    ModelOptions o;
    o.backbone = c.name;
    o.norm = c.norm;
    auto net = makeBackbone(o, c.h, c.w);
    size_t loaded = 0;
    {
      torch::NoGradGuard g;
      for (auto& kv : net->named_parameters()) {
        kv.value().copy_(state.at(kv.key()).toTensor());
        ++loaded;
      }
      for (auto& kv : net->named_buffers()) {
        kv.value().copy_(state.at(kv.key()).toTensor());
        ++loaded;
      }
    }
    EXPECT_EQ(loaded, state.size());
    net->eval();
    torch::NoGradGuard g;
    torch::Tensor y = net->forward(saved.at("input").toTensor());
    torch::Tensor expected = saved.at("output").toTensor();
    EXPECT_TRUE(torch::allclose(y, expected, 1e-4, 1e-4))
        << "max difference " << (y - expected).abs().max().item<float>();
  }
  std::filesystem::remove_all(dir);
}
