// State dicts as torch.save writes them: a module's {name: tensor} state, and reading and writing
// torch.save's zip format without Python.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace l2face::trainer {

// Names and tensors in order, as a PyTorch state dict holds them.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// A module's parameters and buffers in PyTorch's state_dict order and names: modules in
// pre-order, each with its own parameters and then its own buffers, named by their dotted module
// path (Sequential children are "0", "1", ...). For the iresnet* backbones these are insightface
// arcface_torch's names. The tensors are handles to the module's own (copy_ into them loads).
NamedTensors moduleState(torch::nn::Module& m);

// Writes `state` as torch.save does (a zip holding data.pkl and one record per tensor), as a plain
// {str: Tensor} dict that torch.load(weights_only=True) returns; tensors are written from CPU,
// contiguous copies. Atomic: a temp file next to `file`, then a rename (no file is left behind on
// failure). Throws std::runtime_error when it cannot be written.
void writeStateDictFile(const NamedTensors& state, const std::filesystem::path& file);

// Reads a {str: Tensor} dict (a dict or an OrderedDict, e.g. module.state_dict()) that torch.save
// wrote in its zip format (torch >= 1.6), onto the CPU, in the file's order. Like
// torch.load(weights_only=True) it accepts only what a state dict needs (tensors, their storages
// and rebuild functions, OrderedDict, plain values) and runs nothing. Throws std::invalid_argument
// naming the file when it is missing, not a zip archive (e.g. a legacy torch.save file), truncated,
// or holds anything other than a dict of tensors (a list, a whole pickled nn.Module, ...).
NamedTensors readStateDictFile(const std::filesystem::path& file);

}  // namespace l2face::trainer
