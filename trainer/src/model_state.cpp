// Model geometry <-> JSON, and torch archives for modules and tensor lists.
#include "l2face/trainer/internal/model_state.h"

namespace l2face::trainer {

nlohmann::json geometryJson(const ModelGeometry& g) {
  return {{"model",
           {{"backbone", g.model.backbone},
            {"embedding_dim", g.model.embedding_dim},
            {"norm", g.model.norm},
            {"width", g.model.width},
            {"dropout", g.model.dropout}}},
          {"head",
           {{"type", enumName(g.head.type)},
            {"alpha", g.head.alpha},
            {"alpha_auto", g.head.alpha_auto},
            {"alpha_learnable", g.head.alpha_learnable},
            {"p", g.head.p},
            {"bias", g.head.bias},
            {"scale", g.head.scale},
            {"margin", g.head.margin}}},
          {"image_size", g.image_size},
          {"num_classes", g.num_classes}};
}

ModelGeometry geometryFromJson(const nlohmann::json& j, const std::string& where) {
  try {
    ModelGeometry g;
    const auto& m = j.at("model");
    g.model.backbone = m.at("backbone").get<std::string>();
    g.model.embedding_dim = m.at("embedding_dim").get<int>();
    g.model.norm = m.at("norm").get<std::string>();
    g.model.width = m.at("width").get<int>();
    // Keys added after format 1 was first written: absent in older manifests, default there.
    g.model.dropout = m.value("dropout", ModelOptions{}.dropout);
    const auto& h = j.at("head");
    const std::string type = h.at("type").get<std::string>();
    const std::optional<HeadType> kind = enumFromName<HeadType>(type);
    if (!kind) {
      throw checkpoint::CheckpointError(where + ": manifest meta names an unknown head.type '" +
                                        type + "' (known: " + enumChoices<HeadType>() + ")");
    }
    g.head.type = *kind;
    g.head.alpha = h.at("alpha").get<double>();
    g.head.alpha_auto = h.at("alpha_auto").get<bool>();
    g.head.p = h.at("p").get<double>();
    g.head.bias = h.at("bias").get<bool>();
    g.head.alpha_learnable = h.value("alpha_learnable", false);
    g.head.scale = h.value("scale", HeadOptions{}.scale);
    g.head.margin = h.value("margin", HeadOptions{}.margin);
    g.image_size = j.at("image_size").get<int>();
    g.num_classes = j.at("num_classes").get<int64_t>();
    return g;
  } catch (const nlohmann::json::exception& e) {
    throw checkpoint::CheckpointError(where +
                                      ": manifest meta lacks the model geometry: " + e.what());
  }
}

void saveModule(torch::nn::Module& m, const std::filesystem::path& file) {
  torch::serialize::OutputArchive ar;
  m.save(ar);
  ar.save_to(file.string());
}

void loadModule(torch::nn::Module& m, const std::filesystem::path& file,
                const torch::Device& device) {
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(file.string(), device);
    m.load(ar);
  } catch (const c10::Error& e) {
    throw checkpoint::CheckpointError(file.string() +
                                      ": cannot load module state: " + e.what_without_backtrace());
  }
}

void saveTensors(const std::vector<torch::Tensor>& tensors, const std::filesystem::path& file) {
  torch::serialize::OutputArchive ar;
  ar.write("count", torch::tensor(static_cast<int64_t>(tensors.size())));
  for (size_t i = 0; i < tensors.size(); ++i) {
    ar.write("t" + std::to_string(i), tensors[i].detach().cpu());
  }
  ar.save_to(file.string());
}

std::vector<torch::Tensor> loadTensors(const std::filesystem::path& file) {
  torch::serialize::InputArchive ar;
  ar.load_from(file.string(), torch::Device(torch::kCPU));
  torch::Tensor count;
  ar.read("count", count);
  std::vector<torch::Tensor> out(static_cast<size_t>(count.item<int64_t>()));
  for (size_t i = 0; i < out.size(); ++i) ar.read("t" + std::to_string(i), out[i]);
  return out;
}

}  // namespace l2face::trainer
