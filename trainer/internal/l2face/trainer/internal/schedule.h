// The learning-rate schedule: linear warm-up, then constant, cosine, step or polynomial decay.
#pragma once

#include <cstdint>

#include "l2face/trainer/options.h"

namespace l2face::trainer {

// Learning rate at a 0-based optimizer step. Warm-up: lr·(step + 1)/warmup_steps for the first
// warmup_steps steps; then, with t = (step − warmup)/(max_steps − warmup) clamped to [0, 1]:
//   constant    lr
//   cosine      lr·(1 + cos πt)/2
//   step        lr·gamma^(number of milestones <= step)
//   polynomial  lr·(1 − t)^power   (insightface's PolynomialLRWarmup with power 2)
// Throws std::invalid_argument for an unknown schedule.
double learningRate(const OptimOptions& opt, int64_t step);

}  // namespace l2face::trainer
