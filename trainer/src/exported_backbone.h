// The backbone of a checkpoint loaded for export (state dict or ONNX), with its summary filled.
#pragma once

#include <memory>
#include <string>

#include "l2face/checkpoint/store.h"
#include "l2face/trainer/export.h"
#include "l2face/trainer/internal/model_state.h"

namespace l2face::trainer {

struct ExportedBackbone {
  checkpoint::LoadedCheckpoint checkpoint;
  ModelGeometry geometry;
  std::shared_ptr<BackboneImpl> net;  // CPU, eval mode, the checkpoint's weights
  ExportSummary summary;              // all but tensors and nodes
};

ExportedBackbone loadExportedBackbone(const std::string& checkpoint);

}  // namespace l2face::trainer
