// Exporting a checkpoint's backbone (a state dict for Python's torch.load, or an ONNX model) or
// its class weights (a state dict); no torch here.
#pragma once

#include <cstdint>
#include <string>

namespace l2face::trainer {

struct ExportSummary {
  std::string checkpoint_dir;  // the checkpoint that was exported
  int64_t step = 0;
  std::string backbone;  // model.backbone of the checkpoint, e.g. iresnet50
  int image_size = 0;    // input side in pixels the network was built for
  int embedding_dim = 0;
  int64_t tensors = 0;     // state-dict entries (parameters and buffers), or ONNX initializers
  int64_t nodes = 0;       // ONNX operators (ONNX export only)
  int64_t parameters = 0;  // elements of the parameters, frozen ones included
};

// Loads the backbone of `checkpoint` (a checkpoint directory, or a run directory: its newest valid
// checkpoint) and writes its parameters and buffers to `out` as a {name: tensor} dict in the zip
// format of torch.save, so that Python's torch.load(out) (weights_only too) returns it and
// module.load_state_dict() takes it. Entries follow PyTorch's state_dict order and names: for the
// iresnet* backbones these are insightface arcface_torch's (conv1, bn1, prelu, layer1.0.bn1, ...,
// bn2, fc, features, BatchNorm num_batches_tracked included); the other backbones use l2face's
// module names. Tensors are written as float32 CPU tensors as the checkpoint holds them; `out` is
// written atomically (temp file, rename). Throws checkpoint::CheckpointError for a missing or
// broken checkpoint and std::runtime_error when `out` cannot be written. Thread-safe (no shared
// state).
ExportSummary exportBackbone(const std::string& checkpoint, const std::string& out);

// The ONNX preprocessing l2face trains with, baked into the graph: (x − kOnnxInputMean) ×
// kOnnxInputScale, i.e. (x − 127.5) / 128.
inline constexpr float kOnnxInputMean = 127.5f;
inline constexpr float kOnnxInputScale = 1.0f / 128.0f;

// Loads the backbone of `checkpoint` (as exportBackbone) and writes it to `out` as an ONNX model
// (opset deploy::NetGraph::kOpset): input "input", float32 N×3×S×S RGB pixels in 0..255 (S the
// checkpoint's image size, N dynamic); output "embedding", float32 N×d, the un-normalised
// embedding of EmbeddingModel::embed (eval mode: BatchNorm running statistics, no dropout). The
// first two nodes are "Sub_0" (x − 127.5) and "Mul_1" (× 1/128), the names by which insightface's
// model_zoo recognises a model that takes raw pixels. The model passes ONNX's checker and strict
// shape inference before `out` is written atomically. Throws std::invalid_argument naming the
// module when the network holds a module with no ONNX translation (nothing is written), and as
// exportBackbone otherwise.
ExportSummary exportOnnx(const std::string& checkpoint, const std::string& out);

struct ClassifierExportSummary {
  std::string checkpoint_dir;
  int64_t step = 0;
  int64_t num_classes = 0;
  int embedding_dim = 0;
  bool bias = false;      // the head has a class bias (written as "bias")
  std::string placement;  // replicated | sharded (as the checkpoint holds it)
  int shards = 1;         // row files read (sharded)
};

// Writes the class weights of `checkpoint` (a checkpoint or run directory, as exportBackbone) to
// `out` as torch.save's {"weight": C×d float32, "bias": C float32 (heads with a bias only)}, rows
// in label order (classes.tsv of the run), whatever the classifier's placement: a replicated
// head's head.pt, or a sharded run's row files of any world size (sampled or not; the optimizer
// columns are left out). Atomic (temp file, rename: nothing is left behind on failure). Throws
// std::invalid_argument naming the checkpoint when it is missing, broken or holds no classifier
// (a usage error), std::runtime_error when `out` cannot be written. Thread-safe (no shared state).
ClassifierExportSummary exportClassifier(const std::string& checkpoint, const std::string& out);

}  // namespace l2face::trainer
