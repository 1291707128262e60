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
void loadModule(torch::nn::Module& m, const std::filesystem::path& file);
void saveTensors(const std::vector<torch::Tensor>& tensors, const std::filesystem::path& file);
std::vector<torch::Tensor> loadTensors(const std::filesystem::path& file);

}  // namespace l2face::trainer
