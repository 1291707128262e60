// Learning-rate schedules with linear warm-up.
#include "l2face/trainer/internal/schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace l2face::trainer {

double learningRate(const OptimOptions& opt, int64_t step) {
  if (opt.warmup_steps > 0 && step < opt.warmup_steps) {
    return opt.lr * static_cast<double>(step + 1) / static_cast<double>(opt.warmup_steps);
  }
  const double span = static_cast<double>(std::max<int64_t>(1, opt.max_steps - opt.warmup_steps));
  const double t = std::clamp(static_cast<double>(step - opt.warmup_steps) / span, 0.0, 1.0);
  if (opt.schedule == "constant") return opt.lr;
  if (opt.schedule == "cosine") return opt.lr * 0.5 * (1.0 + std::cos(M_PI * t));
  if (opt.schedule == "polynomial") return opt.lr * std::pow(1.0 - t, opt.power);
  if (opt.schedule == "step") {
    double lr = opt.lr;
    for (int64_t m : opt.milestones) {
      if (step >= m) lr *= opt.gamma;
    }
    return lr;
  }
  throw std::invalid_argument("unknown optim.schedule '" + opt.schedule + "'");
}

}  // namespace l2face::trainer
