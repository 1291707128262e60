// export: a checkpoint's backbone as a PyTorch state dict (torch.load / load_state_dict) or ONNX.
#include <iostream>
#include <memory>

#include "commands.h"
#include "l2face/trainer/export.h"

namespace l2face::launch {
namespace {

struct ExportArgs {
  std::string checkpoint;
  std::string out;
  std::string format;  // torch | onnx; empty: onnx when out ends in .onnx, else torch
};

// --format, or the file name's: ".onnx" -> onnx, anything else -> torch.
std::string exportFormat(const ExportArgs& a) {
  if (!a.format.empty()) return a.format;
  const std::string ext = ".onnx";
  const bool onnx_name =
      a.out.size() >= ext.size() && a.out.compare(a.out.size() - ext.size(), ext.size(), ext) == 0;
  return onnx_name ? "onnx" : "torch";
}

int runExport(const ExportArgs& a) {
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
  e->add_option("--out", a->out, "File to write (e.g. backbone.pth, model.onnx)")->required();
  e->add_option("--format", a->format,
                "torch (state dict) or onnx (input N×3×S×S RGB 0..255, output the embedding); "
                "default: onnx when --out ends in .onnx, else torch")
      ->check(CLI::IsMember({"torch", "onnx"}));
  out.push_back({e, [a] { return runExport(*a); }});
}

}  // namespace l2face::launch
