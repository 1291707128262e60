// A NetGraph as the bytes of an ONNX model file, checked by ONNX's checker first.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "l2face/deploy/net_graph.h"

namespace l2face::deploy {

struct ModelInfo {
  std::string graph_name = "l2face";
  std::string doc;                                            // the model's doc string
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata_props
};

// The ONNX model of `graph` (IR version 8, opset NetGraph::kOpset, initializers as raw float32
// data), serialised, after onnx::checker::check_model and strict shape inference (every node's
// inference error and type mismatch throws; the inferred output must be N × outputDim()) have
// passed. Throws std::invalid_argument with the checker's message when a check fails and
// std::runtime_error when the model cannot be serialised (over protobuf's 2 GiB). Thread-safe
// (no shared state).
std::string onnxModelBytes(const NetGraph& graph, const ModelInfo& info);

}  // namespace l2face::deploy
