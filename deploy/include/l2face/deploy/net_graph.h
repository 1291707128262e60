// NetGraph: a feed-forward network as a list of ONNX operators with float32 weights (no torch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2face::deploy {

// A float32 tensor stored in the model (an ONNX initializer).
struct Weight {
  std::vector<int64_t> dims;
  std::vector<float> values;  // row-major, product(dims) elements
};

struct Attribute {
  enum class Kind { kInt, kInts, kFloat };
  std::string name;
  Kind kind = Kind::kInt;
  int64_t i = 0;
  std::vector<int64_t> ints;
  float f = 0;
};

struct Node {
  std::string op;      // ONNX operator type, e.g. "Conv"
  std::string name;    // "<op>_<index in the graph>", e.g. "Sub_0"
  std::string module;  // the module of the source network it comes from (the node's doc string)
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<Attribute> attributes;
};

struct Initializer {
  std::string name;
  Weight weight;
};

// Values are named by strings: the graph input "input", initializers by their module-qualified
// names, node outputs by their node names. Every builder returns the name of its output. The
// operators are those of ONNX opset kOpset. Not thread-safe (one builder per graph).
class NetGraph {
 public:
  static constexpr int kOpset = 17;

  // The graph input "input": N × channels × height × width float32, N dynamic ("N").
  NetGraph(int channels, int height, int width);

  // x − value and x × value with scalar constants named `module`.mean / `module`.scale.
  std::string sub(const std::string& module, const std::string& x, float value);
  std::string mul(const std::string& module, const std::string& x, float value);
  // 2-D convolution, symmetric padding, dilation 1; weight out × in/groups × kh × kw.
  std::string conv(const std::string& module, const std::string& x, Weight weight,
                   const Weight* bias, int stride, int padding, int groups);
  // Inference batch normalisation over dimension 1 (N×C or N×C×H×W), per-channel vectors.
  std::string batchNorm(const std::string& module, const std::string& x, Weight scale, Weight bias,
                        Weight mean, Weight var, float eps);
  // Per-channel PReLU of an N×C×H×W map: the C slopes are stored as C×1×1 (NCHW broadcast).
  std::string prelu(const std::string& module, const std::string& x, Weight slope);
  std::string add(const std::string& module, const std::string& a, const std::string& b);
  std::string maxPool(const std::string& module, const std::string& x, int kernel, int stride);
  std::string flatten(const std::string& module, const std::string& x);  // N × (rest)
  // x · weightᵀ (+ bias): weight out × in, as a linear layer stores it.
  std::string linear(const std::string& module, const std::string& x, Weight weight,
                     const Weight* bias);

  // Marks x (N × dim) as the graph output "embedding".
  void setOutput(const std::string& x, int64_t dim);

  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Initializer>& initializers() const { return initializers_; }
  const std::vector<int64_t>& inputDims() const { return input_dims_; }  // -1: the batch
  int64_t outputDim() const { return output_dim_; }
  static const char* inputName() { return "input"; }
  static const char* outputName() { return "embedding"; }

 private:
  std::string weight(const std::string& name, Weight w);
  std::string node(const std::string& op, const std::string& module,
                   std::vector<std::string> inputs, std::vector<Attribute> attributes = {});

  std::vector<Node> nodes_;
  std::vector<Initializer> initializers_;
  std::vector<int64_t> input_dims_;
  int64_t output_dim_ = 0;
};

}  // namespace l2face::deploy
