// A checkpoint's backbone, or its class weights, as a torch.save-compatible state dict.
#include "l2face/trainer/export.h"

#include <torch/torch.h>

#include <filesystem>
#include <stdexcept>

#include "exported_backbone.h"
#include "l2face/checkpoint/rows.h"
#include "l2face/checkpoint/store.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/model_state.h"
#include "l2face/trainer/internal/state_dict_file.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

// The class rows of a sharded checkpoint, from its row files: weight (C×d) and bias (C) columns
// found by the row layout ("weight:512", "bias:1", then the optimizer's columns).
NamedTensors shardedClassRows(const checkpoint::LoadedCheckpoint& c, int64_t num_classes,
                              ClassifierExportSummary& s) {
  const nlohmann::json& cls = c.manifest.meta.at("classifier");
  const auto table = checkpoint::shardTableFromJson(cls.at("table"), c.dir.string());
  const int64_t cols = cls.at("cols").get<int64_t>();
  torch::Tensor rows = torch::empty({num_classes, cols}, torch::kFloat);
  checkpoint::readRowRange(c.dir, table, 0, num_classes, cols, checkpoint::RowDType::kFloat32,
                           rows.data_ptr<float>());
  NamedTensors out;
  int64_t col = 0;
  for (const auto& block : cls.at("layout").get<std::vector<std::string>>()) {
    const size_t colon = block.rfind(':');
    const std::string name = block.substr(0, colon);
    const int64_t n = std::stoll(block.substr(colon + 1));
    if (name == "weight") out.emplace_back("weight", rows.narrow(1, col, n));
    if (name == "bias") out.emplace_back("bias", rows.narrow(1, col, n).squeeze(1));
    col += n;
  }
  s.shards = static_cast<int>(table.size());
  return out;
}

// A replicated head's class weights from head.pt (its parameters "weight" and "bias").
NamedTensors replicatedClassRows(const checkpoint::LoadedCheckpoint& c) {
  torch::serialize::InputArchive ar;
  ar.load_from(c.file("head.pt").string(), torch::Device(torch::kCPU));
  NamedTensors out;
  torch::Tensor weight, bias;  // undefined: try_read hands over the archive's own tensors
  if (!ar.try_read("weight", weight)) return out;
  out.emplace_back("weight", weight);
  if (ar.try_read("bias", bias)) out.emplace_back("bias", bias);
  return out;
}

NamedTensors classRows(const std::string& checkpoint, ClassifierExportSummary& s) {
  checkpoint::LoadedCheckpoint c = checkpoint::openCheckpoint(checkpoint);
  const ModelGeometry geo = geometryFromJson(c.manifest.meta, c.dir.string());
  const nlohmann::json cls = c.manifest.meta.value("classifier", nlohmann::json::object());
  s.checkpoint_dir = c.dir.string();
  s.step = c.manifest.step;
  s.num_classes = geo.num_classes;
  s.embedding_dim = geo.model.embedding_dim;
  s.placement = cls.value("placement", "replicated");
  NamedTensors rows =
      s.placement == "sharded" ? shardedClassRows(c, geo.num_classes, s) : replicatedClassRows(c);
  if (rows.empty() || rows[0].first != "weight") {
    throw std::invalid_argument(s.checkpoint_dir + " holds no class weights");
  }
  const torch::Tensor& w = rows[0].second;
  if (w.dim() != 2 || w.size(0) != geo.num_classes || w.size(1) != geo.model.embedding_dim) {
    throw std::invalid_argument(s.checkpoint_dir + ": class weights of shape " +
                                c10::str(w.sizes()) + " where [" + std::to_string(geo.num_classes) +
                                ", " + std::to_string(geo.model.embedding_dim) + "] are expected");
  }
  s.bias = rows.size() > 1;
  return rows;
}

}  // namespace

ExportedBackbone loadExportedBackbone(const std::string& checkpoint) {
  ExportedBackbone e{checkpoint::openCheckpoint(checkpoint), {}, nullptr, {}};
  e.geometry = geometryFromJson(e.checkpoint.manifest.meta, e.checkpoint.dir.string());
  e.net = makeBackbone(e.geometry.model, e.geometry.image_size);
  loadModule(*e.net, e.checkpoint.file("backbone.pt"));
  e.net->eval();
  ExportSummary& s = e.summary;
  s.checkpoint_dir = e.checkpoint.dir.string();
  s.step = e.checkpoint.manifest.step;
  s.backbone = e.geometry.model.backbone;
  s.image_size = e.geometry.image_size;
  s.embedding_dim = e.geometry.model.embedding_dim;
  s.parameters = parameterCount(*e.net);
  return e;
}

ExportSummary exportBackbone(const std::string& checkpoint, const std::string& out) {
  ExportedBackbone e = loadExportedBackbone(checkpoint);
  const std::shared_ptr<BackboneImpl>& net = e.net;

  const NamedTensors state = moduleState(*net);
  writeStateDictFile(state, out);
  e.summary.tensors = static_cast<int64_t>(state.size());
  return e.summary;
}

ClassifierExportSummary exportClassifier(const std::string& checkpoint, const std::string& out) {
  ClassifierExportSummary s;
  NamedTensors rows;
  try {
    rows = classRows(checkpoint, s);
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {  // missing, broken or unreadable: bad input
    throw std::invalid_argument("cannot export the classifier of " + checkpoint + ": " + e.what());
  }
  writeStateDictFile(rows, out);
  return s;
}

}  // namespace l2face::trainer
