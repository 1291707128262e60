// Pretrained backbones (model.init): state-dict names, the torch.save reader and writer, the
// validation that lists every problem and loads nothing, and the files that are no state dict.
#include "l2face/trainer/internal/pretrained.h"

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "l2face/trainer/internal/backbone.h"

namespace fs = std::filesystem;
using namespace l2face::trainer;

namespace {

fs::path tempDir() {
  fs::path d = fs::temp_directory_path() / ("l2face_pretrained_" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

std::shared_ptr<BackboneImpl> iresnet18(uint64_t seed) {
  torch::manual_seed(seed);
  ModelOptions mo;
  mo.backbone = "iresnet18";
  mo.embedding_dim = 16;
  auto net = makeBackbone(mo, 32);
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : moduleState(*net)) {  // non-trivial statistics and counters
    if (name.find("running_") != std::string::npos) t.uniform_(0.5, 1.5);
    if (name.find("num_batches_tracked") != std::string::npos) t.fill_(7);
  }
  return net;
}

// Clones of every tensor, to compare a module with its earlier self.
NamedTensors snapshot(torch::nn::Module& m) {
  NamedTensors out = moduleState(m);
  for (auto& [name, t] : out) t = t.detach().clone();
  return out;
}

bool sameTensors(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || !torch::equal(a[i].second, b[i].second)) return false;
  }
  return true;
}

// A torch.save-shaped zip whose data.pkl is `pickle` (no tensor records).
fs::path zipWithPickle(const fs::path& file, const std::string& pickle) {
  caffe2::serialize::PyTorchStreamWriter writer(file.string());
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return file;
}

std::string loadError(torch::nn::Module& net, const fs::path& file) {
  try {
    loadPretrainedBackbone(net, file.string());
  } catch (const InitError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// The names are insightface arcface_torch's, in PyTorch's state_dict order.
TEST(Pretrained, ModuleStateUsesInsightfaceNamesInStateDictOrder) {
  auto net = iresnet18(1);
  const NamedTensors s = moduleState(*net);
  std::vector<std::string> names;
  for (const auto& [n, t] : s) names.push_back(n);
  const std::vector<std::string> head = {"conv1.weight",    "bn1.weight",
                                         "bn1.bias",        "bn1.running_mean",
                                         "bn1.running_var", "bn1.num_batches_tracked",
                                         "prelu.weight",    "layer1.0.bn1.weight"};
  ASSERT_GE(names.size(), head.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + head.size()), head);
  const std::vector<std::string> tail = {"fc.weight",
                                         "fc.bias",
                                         "features.weight",
                                         "features.bias",
                                         "features.running_mean",
                                         "features.running_var",
                                         "features.num_batches_tracked"};
  EXPECT_EQ(std::vector<std::string>(names.end() - tail.size(), names.end()), tail);
  EXPECT_NE(std::find(names.begin(), names.end(), "layer2.0.downsample.0.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "layer4.1.bn3.running_var"), names.end());
  EXPECT_EQ(names.size(), 187u);  // tests/python/iresnet.py's iresnet(18).state_dict()
}

// Written by writeStateDictFile, read back by the reader and loaded: bit-identical, counters too.
TEST(Pretrained, RoundTripLoadsEveryTensorExactly) {
  const fs::path dir = tempDir();
  auto a = iresnet18(1), b = iresnet18(2);
  writeStateDictFile(moduleState(*a), dir / "a.pth");
  EXPECT_FALSE(fs::exists(dir / "a.pth.tmp"));
  const NamedTensors read = readStateDictFile(dir / "a.pth");
  EXPECT_TRUE(sameTensors(read, snapshot(*a)));
  const InitSource src = loadPretrainedBackbone(*b, (dir / "a.pth").string());
  EXPECT_EQ(src.kind, "state dict");
  EXPECT_EQ(src.tensors, 187);
  EXPECT_EQ(src.xxh64.size(), 16u);
  EXPECT_TRUE(sameTensors(snapshot(*b), snapshot(*a)));
  fs::remove_all(dir);
}

// Every missing, unexpected and mis-shaped tensor is named with its shapes; nothing is loaded.
TEST(Pretrained, MismatchesAreAllListedAndNothingIsLoaded) {
  const fs::path dir = tempDir();
  auto a = iresnet18(1), b = iresnet18(2);
  NamedTensors s = snapshot(*a);
  s.erase(s.begin() + 1);  // bn1.weight
  for (auto& [n, t] : s) {
    if (n == "fc.weight") t = torch::zeros({16, 100});
  }
  s.emplace_back("extra.weight", torch::zeros({3}));
  writeStateDictFile(s, dir / "bad.pth");
  const NamedTensors before = snapshot(*b);
  const std::string err = loadError(*b, dir / "bad.pth");
  EXPECT_NE(err.find((dir / "bad.pth").string()), std::string::npos) << err;
  EXPECT_NE(err.find("3 problem(s); nothing was loaded"), std::string::npos) << err;
  EXPECT_NE(err.find("missing bn1.weight: expected [64]"), std::string::npos) << err;
  EXPECT_NE(err.find("shape mismatch fc.weight: expected [16, 2048], file [16, 100]"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("unexpected extra.weight: file [3]"), std::string::npos) << err;
  EXPECT_TRUE(sameTensors(snapshot(*b), before));
  fs::remove_all(dir);
}

// Files of older PyTorch lack num_batches_tracked (set to 0); a DataParallel "module." prefix goes.
TEST(Pretrained, AbsentCountersAndWrapperPrefixAreAccepted) {
  const fs::path dir = tempDir();
  auto a = iresnet18(1), b = iresnet18(2);
  NamedTensors s;
  for (auto& [n, t] : snapshot(*a)) {
    if (n.find("num_batches_tracked") == std::string::npos) s.emplace_back("module." + n, t);
  }
  writeStateDictFile(s, dir / "old.pth");
  const InitSource src = loadPretrainedBackbone(*b, (dir / "old.pth").string());
  EXPECT_EQ(src.tensors, static_cast<int64_t>(s.size()));
  for (const auto& [n, t] : moduleState(*b)) {
    if (n.find("num_batches_tracked") != std::string::npos) EXPECT_EQ(t.item<int64_t>(), 0) << n;
  }
  EXPECT_TRUE(torch::equal(moduleState(*b)[0].second, moduleState(*a)[0].second));
  fs::remove_all(dir);
}

TEST(Pretrained, StateMismatchesOfFittingStatesIsEmpty) {
  auto a = iresnet18(1);
  EXPECT_TRUE(stateMismatches(moduleState(*a), snapshot(*a)).empty());
  NamedTensors missing_counter = snapshot(*a);
  missing_counter.erase(missing_counter.begin() + 5);  // bn1.num_batches_tracked
  EXPECT_TRUE(stateMismatches(moduleState(*a), missing_counter).empty());
}

// Not a state dict: a list, a pickled object, no zip, a truncated zip, a missing file.
TEST(Pretrained, FilesThatAreNoStateDictAreRefusedByName) {
  const fs::path dir = tempDir();
  auto net = iresnet18(1);
  const NamedTensors before = snapshot(*net);
  auto expectError = [&](const fs::path& f, const std::string& text) {
    const std::string err = loadError(*net, f);
    EXPECT_NE(err.find(f.string()), std::string::npos) << err;
    EXPECT_NE(err.find(text), std::string::npos) << err;
  };
  expectError(zipWithPickle(dir / "list.pth", std::string("\x80\x02]q\x00.", 6)),
              "not a state dict: it holds a list");
  expectError(zipWithPickle(dir / "module.pth",
                            "\x80\x02"
                            "ciresnet\nIResNet\nq\x00)\x81q\x01."),
              "not a state dict: it holds a pickled iresnet.IResNet");
  expectError(zipWithPickle(dir / "ints.pth", std::string("\x80\x02}q\x00X\x01\x00\x00\x00"
                                                          "aK\x01s.",
                                                          15)),
              "expected str -> tensor");
  std::ofstream(dir / "text.pth") << "hello";
  expectError(dir / "text.pth", "not a torch.save zip archive");
  writeStateDictFile(moduleState(*net), dir / "full.pth");
  const auto size = fs::file_size(dir / "full.pth");
  fs::copy_file(dir / "full.pth", dir / "cut.pth");
  fs::resize_file(dir / "cut.pth", size / 2);
  expectError(dir / "cut.pth", "truncated or corrupt");
  expectError(dir / "absent.pth", "no such file or directory");
  EXPECT_TRUE(sameTensors(snapshot(*net), before));
  fs::remove_all(dir);
}

TEST(Pretrained, FreezeBatchNormLeavesOtherModulesTraining) {
  auto net = iresnet18(1);
  net->train();
  freezeBatchNorm(*net);
  for (const auto& m : net->modules(/*include_self=*/false)) {
    const bool bn = m->as<torch::nn::BatchNorm2dImpl>() || m->as<torch::nn::BatchNorm1dImpl>();
    EXPECT_EQ(m->is_training(), !bn);
  }
}
