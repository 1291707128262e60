// Tests of config files on disk: the shipped configs load, docs embed the current reference.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "l2face/launch/internal/config.h"
#include "l2face/launch/internal/config_keys.h"

namespace l2face::launch {
namespace {

namespace fs = std::filesystem;

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path tempFile(const std::string& name, const std::string& text) {
  fs::path dir = fs::temp_directory_path() / ("l2face_config_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << text;
  return dir / name;
}

TEST(ConfigFiles, ErrorsInAFileNameItsPathAndLine) {
  fs::path path = tempFile("bad.yaml", "# a comment\nrun:\n  seed: 1\n\ndata:\n  batch_size: 0\n");
  try {
    loadConfig(path.string(), {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ":6: data.batch_size: must be >= 1, got 0");
  }
}

TEST(ConfigFiles, TheEffectiveConfigFileReloadsToTheSameConfig) {
  Config c = loadConfig("", {"data.train=/tmp/x", "optim.lr=0.2", "head.alpha=auto"});
  fs::path path = tempFile("config.yaml", toYaml(c));  // what launch writes to RUN_DIR
  EXPECT_EQ(loadConfig(path.string(), {}), c);
}

TEST(ConfigFiles, ShippedConfigsLoad) {
  for (const char* name : {"demo.yaml", "cluster.yaml"}) {
    SCOPED_TRACE(name);
    const std::string path = std::string(L2FACE_SOURCE_DIR) + "/configs/" + name;
    ASSERT_TRUE(fs::exists(path));
    Config c;
    EXPECT_NO_THROW(c = loadConfig(path, {}));
    EXPECT_FALSE(c.data.train.empty()) << "a shipped config should say where its data is";
  }
  Config demo = loadConfig(std::string(L2FACE_SOURCE_DIR) + "/configs/demo.yaml", {});
  EXPECT_EQ(demo.data.train, "demo/corpus/train");
  EXPECT_EQ(demo.data.image_size, 64);
  Config cluster = loadConfig(std::string(L2FACE_SOURCE_DIR) + "/configs/cluster.yaml", {});
  EXPECT_EQ(cluster.data.batch_size, 128);
  EXPECT_EQ(cluster.monitoring.bind, "0.0.0.0");
  EXPECT_EQ(cluster.checkpoint.every_steps, 2000);
}

TEST(ConfigFiles, ReferenceListsEveryKey) {
  const std::string md = referenceMarkdown();
  for (const auto& k : detail::keyTable()) {
    EXPECT_NE(md.find("| `" + k.name() + "` | "), std::string::npos) << k.name();
  }
  EXPECT_NE(md.find("| `head.alpha` | number or auto | `16` | > 0, or auto |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| `run.device` | string | `auto` | auto, cpu, cuda |"), std::string::npos);
}

// The docs embed the generated reference; this keeps them from drifting from the key table.
// L2FACE_UPDATE_DOCS=1 rewrites the generated block of docs/configuration.md in place instead.
TEST(ConfigFiles, DocsContainTheCurrentReference) {
  const fs::path path = fs::path(L2FACE_SOURCE_DIR) / "docs" / "configuration.md";
  std::string docs = readFile(path);
  const std::string md = referenceMarkdown();
  if (docs.find(md) != std::string::npos) return;
  const char* update = std::getenv("L2FACE_UPDATE_DOCS");
  const size_t begin = docs.find("<!-- BEGIN generated reference");
  const std::string end_marker = "<!-- END generated reference -->\n";
  const size_t end = docs.find(end_marker, begin == std::string::npos ? 0 : begin);
  if (update && *update == '1' && begin != std::string::npos && end != std::string::npos) {
    docs.replace(begin, end + end_marker.size() - begin, md);
    std::ofstream(path, std::ios::binary) << docs;
    return;
  }
  FAIL() << "docs/configuration.md does not contain the current referenceMarkdown(); rerun "
            "this test with L2FACE_UPDATE_DOCS=1 to rewrite its generated block";
}

}  // namespace
}  // namespace l2face::launch
