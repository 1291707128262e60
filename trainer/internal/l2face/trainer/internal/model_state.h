// Saving and loading the network (backbone + head) and optimizer state in a checkpoint.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "backbone.h"
#include "head.h"
#include "l2face/checkpoint/store.h"
#include "optimizer.h"

namespace l2face::trainer {

// The geometry a checkpoint records so that a model can be rebuilt without the training config.
struct ModelGeometry {
  ModelOptions model;
  HeadOptions head;
  int image_size = 112;
  int64_t num_classes = 0;
};

nlohmann::json geometryJson(const ModelGeometry& g);
ModelGeometry geometryFromJson(const nlohmann::json& j, const std::string& where);

void saveModule(torch::nn::Module& m, const std::filesystem::path& file);
// Reads file's tensors onto `device` (whatever device wrote them: a checkpoint written on
// cuda:3 loads on a CPU-only machine) and copies them into m's parameters and buffers, which
// keep their own device. Throws checkpoint::CheckpointError naming the file.
void loadModule(torch::nn::Module& m, const std::filesystem::path& file,
                const torch::Device& device = torch::kCPU);
void saveTensors(const std::vector<torch::Tensor>& tensors, const std::filesystem::path& file);
// The tensors of file, on the CPU (whatever device wrote them).
std::vector<torch::Tensor> loadTensors(const std::filesystem::path& file);

}  // namespace l2face::trainer
