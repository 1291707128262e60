// export: a checkpoint's backbone (a PyTorch state dict or ONNX) and/or its class weights.
#include <iostream>
#include <memory>
#include <stdexcept>

#include "commands.h"
#include "l2face/trainer/export.h"

namespace l2face::launch {
namespace {

struct ExportArgs {
  std::string checkpoint;
  std::string out;
  std::string format;  // torch | onnx; empty: onnx when out ends in .onnx, else torch
  std::string classifier;
};

// --format, or the file name's: ".onnx" -> onnx, anything else -> torch.
std::string exportFormat(const ExportArgs& a) {
  if (!a.format.empty()) return a.format;
  const std::string ext = ".onnx";
  const bool onnx_name =
      a.out.size() >= ext.size() && a.out.compare(a.out.size() - ext.size(), ext.size(), ext) == 0;
  return onnx_name ? "onnx" : "torch";
}

int runClassifierExport(const ExportArgs& a) {
  trainer::ClassifierExportSummary s = trainer::exportClassifier(a.checkpoint, a.classifier);
  std::cout << "exported the " << s.placement << " classifier (" << s.num_classes << " x "
            << s.embedding_dim << (s.bias ? ", with bias" : "") << ", " << s.shards
            << " shard file(s)) of checkpoint " << s.checkpoint_dir << " (step " << s.step
            << ") -> " << a.classifier << "\n";
  return kExitOk;
}

int runExport(const ExportArgs& a) {
  if (a.out.empty() && a.classifier.empty()) {
    throw std::invalid_argument("export: name --out (the backbone), --classifier, or both");
  }
  if (!a.classifier.empty()) runClassifierExport(a);
  if (a.out.empty()) return kExitOk;
  const bool onnx = exportFormat(a) == "onnx";
  trainer::ExportSummary s = onnx ? trainer::exportOnnx(a.checkpoint, a.out)
                                  : trainer::exportBackbone(a.checkpoint, a.out);
  std::cout << "exported " << s.backbone << (onnx ? " as ONNX (" : " (");
  if (onnx) std::cout << s.nodes << " nodes, ";
  std::cout << s.tensors << " tensors, " << s.parameters << " parameters, " << s.embedding_dim
            << "-d, " << s.image_size << "x" << s.image_size << " input) of checkpoint "
            << s.checkpoint_dir << " (step " << s.step << ") -> " << a.out << "\n";
  return kExitOk;
}

}  // namespace

void addExportCommands(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<ExportArgs>();
  auto* e = app.add_subcommand(
      "export",
      "Write a checkpoint's backbone as a PyTorch state dict (torch.load, load_state_dict) or an "
      "ONNX model");
  e->add_option("--checkpoint", a->checkpoint,
                "Checkpoint directory, or a run directory (newest valid)")
      ->required();
  e->add_option("--out", a->out, "Backbone file to write (e.g. backbone.pth, model.onnx)");
  e->add_option("--format", a->format,
                "torch (state dict) or onnx (input N×3×S×S RGB 0..255, output the embedding); "
                "default: onnx when --out ends in .onnx, else torch")
      ->check(CLI::IsMember({"torch", "onnx"}));
  e->add_option("--classifier", a->classifier,
                "Class weights file to write: {weight: C x d, bias: C (if any)} in label order");
  out.push_back({e, [a] { return runExport(*a); }});
}

}  // namespace l2face::launch
