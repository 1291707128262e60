// NetGraph and onnxModelBytes: the model's interface, node names and raw weights as written, and
// graphs that fail ONNX's checks refused.
#include "l2face/deploy/onnx_writer.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>

#include "l2face/deploy/net_graph.h"

using namespace l2face::deploy;

namespace {

Weight filled(std::vector<int64_t> dims, float start) {
  Weight w{std::move(dims), {}};
  int64_t n = 1;
  for (int64_t d : w.dims) n *= d;
  for (int64_t i = 0; i < n; ++i) w.values.push_back(start + 0.5f * static_cast<float>(i));
  return w;
}

// input 3×8×8 -> Sub -> Mul -> conv 4 (stride 2) -> BN -> PReLU -> flatten -> linear 5 (64 -> 5).
NetGraph smallGraph(bool pool_after_flatten = false) {
  NetGraph g(3, 8, 8);
  std::string x = g.sub("preprocess", NetGraph::inputName(), 127.5f);
  x = g.mul("preprocess", x, 1.0f / 128);
  x = g.conv("conv", x, filled({4, 3, 3, 3}, 0), nullptr, 2, 1, 1);
  x = g.batchNorm("bn", x, filled({4}, 1), filled({4}, 0), filled({4}, 0), filled({4}, 1), 1e-5f);
  x = g.prelu("prelu", x, filled({4}, 0.25f));
  x = g.flatten("flatten", x);
  if (pool_after_flatten) x = g.maxPool("pool", x, 2, 2);  // a 2-D pool of an N × 64 matrix
  Weight bias = filled({5}, 0);
  x = g.linear("fc", x, filled({5, 64}, 0), &bias);
  g.setOutput(x, 5);
  return g;
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

TEST(OnnxWriter, WritesTheInterfaceNodesAndRawWeights) {
  ModelInfo info;
  info.metadata = {{"backbone", "test"}};
  const onnx::ModelProto m = parse(onnxModelBytes(smallGraph(), info));
  EXPECT_EQ(m.opset_import(0).version(), NetGraph::kOpset);
  const onnx::GraphProto& g = m.graph();
  ASSERT_EQ(g.node_size(), 7);
  const char* names[] = {"Sub_0",   "Mul_1",     "Conv_2", "BatchNormalization_3",
                         "PRelu_4", "Flatten_5", "Gemm_6"};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(g.node(i).name(), names[i]);
  EXPECT_EQ(g.node(6).output(0), "embedding");
  const auto& in = g.input(0).type().tensor_type().shape();
  EXPECT_EQ(g.input(0).name(), "input");
  EXPECT_EQ(in.dim(0).dim_param(), "N");
  EXPECT_EQ(in.dim(1).dim_value(), 3);
  const auto& out = g.output(0).type().tensor_type().shape();
  EXPECT_EQ(out.dim(0).dim_param(), "N");
  EXPECT_EQ(out.dim(1).dim_value(), 5);
  EXPECT_EQ(g.value_info_size(), 0);
  EXPECT_EQ(m.metadata_props(0).key(), "backbone");
  for (const auto& t : g.initializer()) {
    if (t.name() != "prelu.weight") continue;
    ASSERT_EQ(t.dims_size(), 3);  // C×1×1: broadcast over N×C×H×W
    EXPECT_EQ(t.dims(0), 4);
    float v[4];
    ASSERT_EQ(t.raw_data().size(), sizeof v);
    std::memcpy(v, t.raw_data().data(), sizeof v);
    EXPECT_EQ(v[0], 0.25f);
    EXPECT_EQ(v[3], 1.75f);
  }
}

TEST(OnnxWriter, RefusesAGraphThatFailsShapeInference) {
  try {
    onnxModelBytes(smallGraph(true), ModelInfo{});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fails its check"), std::string::npos) << e.what();
  }
}

TEST(OnnxWriter, RefusesAWrongOutputSize) {
  NetGraph g(3, 8, 8);
  const std::string x = g.flatten("flatten", NetGraph::inputName());
  g.setOutput(x, 7);  // is 192
  EXPECT_THROW(onnxModelBytes(g, ModelInfo{}), std::invalid_argument);
}

TEST(NetGraph, RefusesWeightsThatDoNotMatchTheirShape) {
  NetGraph g(3, 8, 8);
  Weight w{{4, 3, 3, 3}, std::vector<float>(10)};
  EXPECT_THROW(g.conv("conv", NetGraph::inputName(), w, nullptr, 1, 1, 1), std::invalid_argument);
}

}  // namespace
