// GraphWalker: modules without an ONNX translation are refused by name, a describe() that leaves
// a module out is caught, and every backbone's graph, run by a small torch interpreter of its
// operators, computes the backbone's eval-mode forward.
#include "l2face/trainer/internal/graph_walker.h"

#include <gtest/gtest.h>

#include <map>

#include "l2face/trainer/internal/backbone.h"

using namespace l2face;
using namespace l2face::trainer;

namespace {

std::string walkError(const torch::nn::Module& m) {
  deploy::NetGraph g(3, 16, 16);
  GraphWalker w(g);
  try {
    w.applyAt("net", m, deploy::NetGraph::inputName());
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(GraphWalker, RefusesAModuleWithoutTranslationByName) {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                            torch::nn::ReLU6());
  const std::string err = walkError(*net);
  EXPECT_NE(err.find("'net.1'"), std::string::npos) << err;
  EXPECT_NE(err.find("ReLU6"), std::string::npos) << err;
}

TEST(GraphWalker, RefusesConvolutionOptionsItDoesNotTranslate) {
  torch::nn::Sequential dilated(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).dilation(2)));
  EXPECT_NE(walkError(*dilated).find("'net.0'"), std::string::npos);
  torch::nn::Sequential reflect(torch::nn::Conv2d(
      torch::nn::Conv2dOptions(3, 4, 3).padding(1).padding_mode(torch::kReflect)));
  EXPECT_NE(walkError(*reflect).find("zero paddings"), std::string::npos);
}

// A composite whose describe() forgets its second child.
struct Forgetful : torch::nn::Module, GraphDescribable {
  Forgetful() {
    a = register_module("a", torch::nn::Linear(4, 4));
    b = register_module("b", torch::nn::Linear(4, 4));
  }
  std::string describe(GraphWalker& w, const std::string& path,
                       const std::string& x) const override {
    return w.apply(path, "a", *a, x);
  }
  torch::nn::Linear a{nullptr}, b{nullptr};
};

TEST(GraphWalker, CatchesADescriptionThatLeavesAModuleOut) {
  Forgetful m;
  deploy::NetGraph g(3, 16, 16);
  GraphWalker w(g);
  w.applyAt("", m, deploy::NetGraph::inputName());
  try {
    w.checkAllExported(m);
    FAIL() << "no error";
  } catch (const std::logic_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("b.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("b.bias"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("a.weight"), std::string::npos) << msg;
  }
}

torch::Tensor weightOf(const deploy::NetGraph& g, const std::string& name) {
  for (const auto& i : g.initializers()) {
    if (i.name == name) {
      return torch::tensor(i.weight.values).reshape(i.weight.dims);
    }
  }
  throw std::runtime_error("no initializer " + name);
}

const deploy::Attribute& attr(const deploy::Node& n, const std::string& name) {
  for (const auto& a : n.attributes) {
    if (a.name == name) return a;
  }
  throw std::runtime_error(n.name + " has no attribute " + name);
}

// The operators NetGraph emits, evaluated with torch (ONNX semantics).
torch::Tensor runNode(const deploy::NetGraph& g, const deploy::Node& n,
                      const std::vector<torch::Tensor>& in) {
  if (n.op == "Sub") return in[0] - in[1];
  if (n.op == "Mul") return in[0] * in[1];
  if (n.op == "Add") return in[0] + in[1];
  if (n.op == "PRelu") return torch::where(in[0] >= 0, in[0], in[0] * in[1]);
  if (n.op == "Flatten") return in[0].flatten(1);
  if (n.op == "MaxPool")
    return torch::max_pool2d(in[0], attr(n, "kernel_shape").ints, attr(n, "strides").ints);
  if (n.op == "Gemm") {
    torch::Tensor y = in[0].matmul(in[1].t());
    return in.size() > 2 ? y + in[2] : y;
  }
  if (n.op == "Conv") {
    const auto& pads = attr(n, "pads").ints;
    return torch::conv2d(in[0], in[1], in.size() > 2 ? in[2] : torch::Tensor(),
                         attr(n, "strides").ints, {pads[0], pads[1]}, {1, 1}, attr(n, "group").i);
  }
  if (n.op == "BatchNormalization") {
    return torch::batch_norm(in[0], in[1], in[2], in[3], in[4], false, 0, attr(n, "epsilon").f,
                             false);
  }
  (void)g;
  throw std::runtime_error("no interpretation of " + n.op);
}

torch::Tensor interpret(const deploy::NetGraph& g, const torch::Tensor& input) {
  std::map<std::string, torch::Tensor> values{{deploy::NetGraph::inputName(), input}};
  for (const auto& i : g.initializers()) values[i.name] = weightOf(g, i.name);
  for (const auto& n : g.nodes()) {
    std::vector<torch::Tensor> in;
    for (const auto& name : n.inputs) in.push_back(values.at(name));
    values[n.outputs.at(0)] = runNode(g, n, in);
  }
  return values.at(deploy::NetGraph::outputName());
}

struct Case {
  const char* backbone;
  const char* norm;
  int side;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.backbone << " norm " << c.norm << " " << c.side << "x" << c.side;
}

class BackboneGraph : public ::testing::TestWithParam<Case> {};

TEST_P(BackboneGraph, ComputesTheEvalForward) {
  const Case c = GetParam();
  torch::manual_seed(7);
  ModelOptions opt;
  opt.backbone = c.backbone;
  opt.norm = c.norm;
  opt.width = 4;
  opt.embedding_dim = 8;
  opt.dropout = 0.25;
  std::shared_ptr<BackboneImpl> net = makeBackbone(opt, c.side);
  {  // non-trivial running statistics, as after training
    torch::NoGradGuard no_grad;
    for (auto& b : net->named_buffers()) {
      if (b.key().find("running_") != std::string::npos) b.value().uniform_(0.5, 1.5);
    }
  }
  net->eval();
  deploy::NetGraph g(3, c.side, c.side);
  GraphWalker w(g);
  std::string x = g.sub("preprocess", deploy::NetGraph::inputName(), 127.5f);
  x = g.mul("preprocess", x, 1.0f / 128);
  {
    torch::NoGradGuard no_grad;
    x = w.applyAt("", *net, x);
  }
  w.checkAllExported(*net);
  g.setOutput(x, opt.embedding_dim);
  ASSERT_EQ(g.nodes().at(0).name, "Sub_0");
  ASSERT_EQ(g.nodes().at(1).name, "Mul_1");

  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randint(0, 256, {3, 3, c.side, c.side}).to(torch::kFloat);
  const torch::Tensor want = net->forward((pixels - 127.5) / 128);
  const torch::Tensor got = interpret(g, pixels);
  ASSERT_EQ(got.sizes(), want.sizes());
  const double rel = (got - want).abs().max().item<double>() / want.abs().max().item<double>();
  EXPECT_LE(rel, 1e-5) << c.backbone << " " << c.norm;
}

INSTANTIATE_TEST_SUITE_P(Backbones, BackboneGraph,
                         ::testing::Values(Case{"tiny", "batch", 32}, Case{"tiny", "none", 32},
                                           Case{"face_resnet", "batch", 48},
                                           Case{"face_resnet", "none", 48},
                                           Case{"iresnet18", "batch", 32},
                                           Case{"iresnet34", "batch", 32},
                                           Case{"mobilefacenet", "batch", 32}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.backbone) + "_" + i.param.norm;
                         });

}  // namespace
