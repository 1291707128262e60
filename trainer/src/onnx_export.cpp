// The backbone of a checkpoint as an ONNX model: GraphWalker -> NetGraph -> checked bytes -> file.
#include <torch/torch.h>

#include "exported_backbone.h"
#include "l2face/checkpoint/store.h"
#include "l2face/deploy/onnx_writer.h"
#include "l2face/trainer/export.h"
#include "l2face/trainer/internal/graph_walker.h"

namespace l2face::trainer {
namespace {

deploy::ModelInfo modelInfo(const ExportedBackbone& e) {
  const ExportSummary& s = e.summary;
  deploy::ModelInfo info;
  info.graph_name = "l2face_" + s.backbone;
  info.doc = "l2face " + s.backbone + " embedding: input float32 RGB pixels 0..255, N x 3 x " +
             std::to_string(s.image_size) + " x " + std::to_string(s.image_size) +
             " (normalised inside: (x - 127.5) / 128); output the un-normalised " +
             std::to_string(s.embedding_dim) + "-d embedding";
  info.metadata = {{"backbone", s.backbone},
                   {"image_size", std::to_string(s.image_size)},
                   {"embedding_dim", std::to_string(s.embedding_dim)},
                   {"checkpoint_step", std::to_string(s.step)},
                   {"input_mean", "127.5"},
                   {"input_std", "128"}};
  return info;
}

}  // namespace

ExportSummary exportOnnx(const std::string& checkpoint, const std::string& out) {
  ExportedBackbone e = loadExportedBackbone(checkpoint);
  const int side = e.geometry.image_size;
  deploy::NetGraph graph(3, side, side);
  GraphWalker walker(graph);
  std::string x = graph.sub("preprocess", deploy::NetGraph::inputName(), kOnnxInputMean);
  x = graph.mul("preprocess", x, kOnnxInputScale);
  {
    torch::NoGradGuard no_grad;
    x = walker.applyAt("", *e.net, x);
  }
  walker.checkAllExported(*e.net);
  graph.setOutput(x, e.geometry.model.embedding_dim);
  checkpoint::writeFileAtomic(out, deploy::onnxModelBytes(graph, modelInfo(e)));
  e.summary.tensors = static_cast<int64_t>(graph.initializers().size());
  e.summary.nodes = static_cast<int64_t>(graph.nodes().size());
  return e.summary;
}

}  // namespace l2face::trainer
