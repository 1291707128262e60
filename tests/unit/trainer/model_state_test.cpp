// Checkpoint portability: module and tensor archives written on a CUDA device load on the device
// the caller names (the CPU by default), also on a machine without CUDA.
#include "l2face/trainer/internal/model_state.h"

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

// One pickled string: BINUNICODE ('X'), 4-byte little-endian length, the bytes.
std::string pickledString(const std::string& s) {
  std::string out = "X";
  const uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + s;
}

// Copies the torch archive `from` to `to` with every storage location "cpu" rewritten to
// `location`: the archive the same module saved from that device would hold. Returns how many
// locations were rewritten.
int relocate(const fs::path& from, const fs::path& to, const std::string& location) {
  caffe2::serialize::PyTorchStreamReader reader(from.string());
  caffe2::serialize::PyTorchStreamWriter writer(to.string());
  writer.setMinVersion(reader.version());
  int rewritten = 0;
  for (const std::string& name : reader.getAllRecords()) {
    if (name == "version" || name == ".data/version" || name == ".data/serialization_id") {
      continue;  // the writer writes its own
    }
    auto [data, size] = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(data.get()), size);
    if (name == "data.pkl") {
      const std::string cpu = pickledString("cpu"), dev = pickledString(location);
      for (size_t at = bytes.find(cpu); at != std::string::npos; at = bytes.find(cpu, at)) {
        bytes.replace(at, cpu.size(), dev);
        at += dev.size();
        ++rewritten;
      }
    }
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
  return rewritten;
}

class ModelState : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("l2face_model_state_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::shared_ptr<BackboneImpl> tinyNet(uint64_t seed) {
  torch::manual_seed(seed);
  ModelOptions o;
  o.backbone = "tiny";
  o.width = 4;
  o.embedding_dim = 8;
  return makeBackbone(o, 32);
}

TEST_F(ModelState, ModuleWrittenOnCudaLoadsOnTheCpu) {
  auto saved = tinyNet(1);
  saveModule(*saved, dir_ / "cpu.pt");
  ASSERT_GT(relocate(dir_ / "cpu.pt", dir_ / "cuda.pt", "cuda:0"), 0);
  if (!torch::cuda::is_available()) {
    // What every load did before it named a device: torch refuses CUDA storages without CUDA.
    torch::serialize::InputArchive plain;
    EXPECT_THROW(plain.load_from((dir_ / "cuda.pt").string()), c10::Error);
  }
  auto loaded = tinyNet(2);
  loadModule(*loaded, dir_ / "cuda.pt");
  const auto want = saved->named_parameters(), got = loaded->named_parameters();
  ASSERT_EQ(want.size(), got.size());
  for (const auto& p : want) {
    const torch::Tensor& g = got[p.key()];
    EXPECT_TRUE(g.device().is_cpu()) << p.key();
    EXPECT_TRUE(torch::equal(g, p.value())) << p.key();
  }
  for (const auto& b : saved->named_buffers()) {
    EXPECT_TRUE(torch::equal(loaded->named_buffers()[b.key()], b.value())) << b.key();
  }
}

TEST_F(ModelState, ArchiveOfAnotherDeviceIndexLoadsWhereAsked) {
  // A rank of a multi-GPU resume reads a checkpoint rank 0 wrote from cuda:3: nothing is
  // materialised on cuda:3 (or cuda:0) on the way.
  auto saved = tinyNet(3);
  saveModule(*saved, dir_ / "cpu.pt");
  ASSERT_GT(relocate(dir_ / "cpu.pt", dir_ / "cuda3.pt", "cuda:3"), 0);
  auto loaded = tinyNet(4);
  loadModule(*loaded, dir_ / "cuda3.pt", torch::kCPU);
  for (const auto& p : saved->named_parameters()) {
    EXPECT_TRUE(torch::equal(loaded->named_parameters()[p.key()], p.value())) << p.key();
  }
}

TEST_F(ModelState, UnreadableModuleNamesTheFile) {
  std::ofstream(dir_ / "broken.pt") << "not a torch archive";
  auto net = tinyNet(5);
  try {
    loadModule(*net, dir_ / "broken.pt");
    FAIL() << "loaded a broken archive";
  } catch (const l2face::checkpoint::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.pt"), std::string::npos) << e.what();
  }
}

}  // namespace
