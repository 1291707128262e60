// A pretrained backbone into a fresh one: reading the source, validating every tensor, copying.
#include "l2face/trainer/internal/pretrained.h"

#include <filesystem>
#include <map>
#include <sstream>

#include "l2face/checkpoint/store.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/model_state.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string shapeOf(const torch::Tensor& t) { return c10::str(t.sizes()); }

// Keys all prefixed "module." (a state dict saved from a DistributedDataParallel wrapper) lose it.
NamedTensors withoutWrapperPrefix(NamedTensors state) {
  const std::string prefix = "module.";
  for (const auto& [name, t] : state) {
    if (name.rfind(prefix, 0) != 0) return state;
  }
  for (auto& [name, t] : state) name = name.substr(prefix.size());
  return state;
}

// The backbone state of an l2face checkpoint (or a run directory's newest valid one), read into a
// backbone of the checkpoint's own geometry; the classifier files are not read.
NamedTensors checkpointBackbone(const std::string& path, InitSource& src, std::string& built) {
  checkpoint::LoadedCheckpoint c;
  try {
    c = checkpoint::openCheckpoint(path);
  } catch (const std::exception& e) {
    throw InitError("model.init " + path + ": " + e.what());
  }
  const ModelGeometry geo = geometryFromJson(c.manifest.meta, c.dir.string());
  std::shared_ptr<BackboneImpl> net = makeBackbone(geo.model, geo.image_size);
  try {
    loadModule(*net, c.file("backbone.pt"));
  } catch (const std::exception& e) {
    throw InitError("model.init " + path + ": " + e.what());
  }
  src.kind = "checkpoint";
  src.file = c.file("backbone.pt").string();
  src.step = c.manifest.step;
  built = geo.model.backbone + " (" + std::to_string(geo.model.embedding_dim) + "-d, " +
          std::to_string(geo.image_size) + " px input)";
  NamedTensors state = moduleState(*net);
  for (auto& [name, t] : state) t = t.detach().clone();
  return state;
}

NamedTensors readSource(const std::string& path, InitSource& src, std::string& built) {
  src.path = path;
  if (fs::is_directory(path)) return checkpointBackbone(path, src, built);
  if (!fs::exists(path)) throw InitError("model.init " + path + ": no such file or directory");
  src.kind = "state dict";
  src.file = path;
  try {
    return withoutWrapperPrefix(readStateDictFile(path));
  } catch (const std::invalid_argument& e) {
    throw InitError(std::string("model.init ") + e.what());
  }
}

}  // namespace

std::vector<std::string> stateMismatches(const NamedTensors& expected, const NamedTensors& given) {
  std::map<std::string, const torch::Tensor*> in_file;
  for (const auto& [name, t] : given) in_file[name] = &t;
  std::vector<std::string> out;
  for (const auto& [name, t] : expected) {
    auto it = in_file.find(name);
    if (it == in_file.end()) {
      if (!endsWith(name, "num_batches_tracked")) {
        out.push_back("missing " + name + ": expected " + shapeOf(t));
      }
      continue;
    }
    if (!it->second->sizes().equals(t.sizes())) {
      out.push_back("shape mismatch " + name + ": expected " + shapeOf(t) + ", file " +
                    shapeOf(*it->second));
    }
    in_file.erase(it);
  }
  for (const auto& [name, t] : given) {
    if (in_file.count(name)) out.push_back("unexpected " + name + ": file " + shapeOf(t));
  }
  return out;
}

nlohmann::json InitSource::json() const {
  nlohmann::json j = {
      {"path", path}, {"kind", kind}, {"file", file}, {"xxh64", xxh64}, {"tensors", tensors}};
  if (step >= 0) j["step"] = step;
  return j;
}

InitSource loadPretrainedBackbone(torch::nn::Module& net, const std::string& path) {
  InitSource src;
  std::string built;  // the checkpoint's backbone, when it is one
  const NamedTensors given = readSource(path, src, built);
  const NamedTensors expected = moduleState(net);
  const std::vector<std::string> problems = stateMismatches(expected, given);
  if (!problems.empty()) {
    std::ostringstream msg;
    msg << "model.init " << path << " does not fit this run's backbone (" << problems.size()
        << " problem(s); nothing was loaded)";
    if (!built.empty()) msg << "; the checkpoint holds a " << built;
    msg << ":";
    for (const auto& p : problems) msg << "\n  " << p;
    throw InitError(msg.str());
  }
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, t] : given) by_name[name] = &t;
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : expected) {
    auto it = by_name.find(name);
    torch::Tensor target = t;  // a handle: copy_ writes into the module
    if (it == by_name.end()) {
      target.zero_();  // an absent num_batches_tracked
    } else {
      target.copy_(it->second->to(target.scalar_type()));
      ++src.tensors;
    }
  }
  src.xxh64 = checkpoint::fileXxh64(src.file);
  return src;
}

void freezeBatchNorm(torch::nn::Module& net) {
  for (const auto& m : net.modules(/*include_self=*/true)) {
    if (m->as<torch::nn::BatchNorm1dImpl>() || m->as<torch::nn::BatchNorm2dImpl>()) m->eval();
  }
}

}  // namespace l2face::trainer
