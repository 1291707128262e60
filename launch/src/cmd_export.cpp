// export: a checkpoint's backbone as a PyTorch state dict (torch.load / load_state_dict).
#include <iostream>
#include <memory>

#include "commands.h"
#include "l2face/trainer/export.h"

namespace l2face::launch {
namespace {

struct ExportArgs {
  std::string checkpoint;
  std::string out;
};

int runExport(const ExportArgs& a) {
  trainer::ExportSummary s = trainer::exportBackbone(a.checkpoint, a.out);
  std::cout << "exported " << s.backbone << " (" << s.tensors << " tensors, " << s.parameters
            << " parameters, " << s.embedding_dim << "-d, " << s.image_size << "x" << s.image_size
            << " input) of checkpoint " << s.checkpoint_dir << " (step " << s.step << ") -> "
            << a.out << "\n";
  return kExitOk;
}

}  // namespace

void addExportCommands(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<ExportArgs>();
  auto* e = app.add_subcommand(
      "export",
      "Write a checkpoint's backbone as a PyTorch state dict (torch.load, load_state_dict)");
  e->add_option("--checkpoint", a->checkpoint,
                "Checkpoint directory, or a run directory (newest valid)")
      ->required();
  e->add_option("--out", a->out, "File to write (e.g. backbone.pth)")->required();
  out.push_back({e, [a] { return runExport(*a); }});
}

}  // namespace l2face::launch
