// The backbone of a checkpoint as a torch.save-compatible state dict (a pickled dict in a zip).
#include "l2face/trainer/export.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "exported_backbone.h"
#include "l2face/checkpoint/store.h"
#include "l2face/trainer/internal/backbone.h"
#include "l2face/trainer/internal/model_state.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

// What torch::pickle_save does, without its type tags: pickle_save marks typed containers with
// torch.jit._pickle.restore_type_tag, a global that torch.load(weights_only=True) (the default
// since torch 2.6) refuses. Untagged, the dict unpickles as a plain {str: Tensor}, and the zip
// layout (data.pkl, data/<storage>, version) is torch.save's.
std::vector<char> saveStateDict(const c10::Dict<std::string, at::Tensor>& state) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* p, size_t n) { pickled.insert(pickled.end(), p, p + n); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(state);
  pickler.stop();
  std::vector<char> zip;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, size_t n) {
    zip.insert(zip.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  return zip;
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

  // PyTorch's state_dict order: modules in pre-order, each with its own parameters and then its
  // own buffers; the names are the dotted module paths (Sequential children are "0", "1", ...).
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& m : net->named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const std::string prefix = m.key().empty() ? "" : m.key() + ".";
    for (const auto& p : m.value()->named_parameters(/*recurse=*/false)) {
      state.insert(prefix + p.key(), p.value().detach().cpu().contiguous().clone());
    }
    for (const auto& b : m.value()->named_buffers(/*recurse=*/false)) {
      state.insert(prefix + b.key(), b.value().detach().cpu().contiguous().clone());
    }
  }
  const std::vector<char> bytes = saveStateDict(state);

  const fs::path target(out);
  fs::path tmp = target;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp.string());
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) throw std::runtime_error("write failed for " + tmp.string() + " (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec)
    throw std::runtime_error("cannot rename " + tmp.string() + " to " + out + ": " + ec.message());

  e.summary.tensors = static_cast<int64_t>(state.size());
  return e.summary;
}

}  // namespace l2face::trainer
