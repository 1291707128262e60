// BatchPlan: the split of a fixed global batch over the ranks, and where the global batch comes
// from.
#include "l2face/trainer/internal/batch_plan.h"

#include <sstream>
#include <stdexcept>
#include <vector>

namespace l2face::trainer {
namespace {

// The smallest k >= min_k with P·k | S and S/(P·k) <= max_b, or 0 when none.
int smallestAccumulation(int64_t s, int p, int max_b, int min_k) {
  if (s <= 0 || p <= 0 || max_b <= 0 || min_k <= 0) return 0;
  for (int64_t k = min_k; k * p <= s; ++k) {
    if (s % (k * p) == 0 && s / (k * p) <= max_b) return static_cast<int>(k);
  }
  return 0;
}

std::string joinList(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == v.size() ? " or " : ", ") + std::to_string(v[i]);
  }
  return out;
}

// The message of a global batch P ranks cannot split, with the ways out.
std::string unsplittable(int64_t s, int p, int max_b, int min_k, const std::string& origin) {
  std::ostringstream m;
  m << "a global batch of " << s << " images per optimizer step";
  if (!origin.empty()) m << " (" << origin << ")";
  m << " cannot be split over " << p << " rank(s): every rank needs the same whole number of "
    << "images, global batch = ranks x images per rank x accumulation steps (images per rank "
    << "<= data.batch_size " << max_b << ", accumulation steps >= optim.accumulate_steps " << min_k
    << ")";
  std::vector<int64_t> ranks;
  for (int q = 1; q <= 2 * p; ++q) {
    if (smallestAccumulation(s, q, max_b, min_k) > 0) ranks.push_back(q);
  }
  if (!ranks.empty()) {
    m << ". Rank counts up to " << 2 * p << " that can run it unchanged: " << joinList(ranks);
  } else {
    m << ". No rank count up to " << 2 * p << " can run it with optim.accumulate_steps " << min_k
      << "; lower optim.accumulate_steps";
  }
  // The nearest global batches P ranks can run, below and above (they change the run).
  std::vector<int64_t> near;
  for (int64_t d = s - 1; d >= 1 && s - d <= int64_t{p} * min_k; --d) {
    if (smallestAccumulation(d, p, max_b, min_k) > 0) {
      near.push_back(d);
      break;
    }
  }
  for (int64_t u = s + 1; u - s <= int64_t{p} * min_k; ++u) {
    if (smallestAccumulation(u, p, max_b, min_k) > 0) {
      near.push_back(u);
      break;
    }
  }
  if (!near.empty()) {
    m << "; or set data.global_batch to " << joinList(near) << " (which " << p
      << " rank(s) can split), which changes the batch and the sample order";
  }
  return m.str();
}

}  // namespace

BatchPlan splitGlobalBatch(int64_t global_batch, int ranks, int max_batch_per_rank,
                           int min_accumulate, const std::string& origin) {
  if (global_batch <= 0 || ranks <= 0 || max_batch_per_rank <= 0 || min_accumulate <= 0) {
    throw std::invalid_argument(
        "splitGlobalBatch: global batch, ranks, batch per rank and accumulation must be positive");
  }
  const int k = smallestAccumulation(global_batch, ranks, max_batch_per_rank, min_accumulate);
  if (k == 0) {
    throw std::invalid_argument(
        unsplittable(global_batch, ranks, max_batch_per_rank, min_accumulate, origin));
  }
  BatchPlan plan;
  plan.global_batch = global_batch;
  plan.ranks = ranks;
  plan.accumulate = k;
  plan.batch_per_rank = static_cast<int>(global_batch / (int64_t{k} * ranks));
  plan.origin = origin;
  return plan;
}

BatchPlan planBatch(const data::DataOptions& data, const OptimOptions& optim,
                    bool keep_global_batch, int ranks, const std::optional<SavedBatch>& saved,
                    std::string* warning) {
  const bool keep = keep_global_batch && saved.has_value();
  if (data.global_batch > 0) {
    if (keep && saved->global_batch != data.global_batch && warning != nullptr) {
      *warning = "data.global_batch " + std::to_string(data.global_batch) +
                 " differs from the global batch " + std::to_string(saved->global_batch) +
                 " of checkpoint " + saved->name + " (--keep-global-batch): the run continues " +
                 "with " + std::to_string(data.global_batch) + " images per optimizer step, so " +
                 "its batches and sample order differ from the interrupted run's";
    }
    return splitGlobalBatch(data.global_batch, ranks, data.batch_size, optim.accumulate_steps,
                            "data.global_batch");
  }
  if (keep) {
    return splitGlobalBatch(saved->global_batch, ranks, data.batch_size, optim.accumulate_steps,
                            "kept from checkpoint " + saved->name);
  }
  BatchPlan plan;
  plan.ranks = ranks;
  plan.batch_per_rank = data.batch_size;
  plan.accumulate = optim.accumulate_steps;
  plan.global_batch = plan.loaderBatch() * plan.accumulate;
  return plan;
}

ContinuedCursor continueCursor(data::Cursor saved, int64_t saved_batch, int64_t global_batch,
                               int accumulate) {
  const int64_t seen = saved.step * saved_batch;
  const int64_t step_images = global_batch * accumulate;
  const int64_t steps_done = (seen + step_images - 1) / step_images;
  ContinuedCursor c;
  c.cursor = data::Cursor{saved.epoch, steps_done * accumulate};
  c.skipped = steps_done * step_images - seen;
  return c;
}

std::string describeBatchPlan(const BatchPlan& plan) {
  std::string s = "global batch " + std::to_string(plan.global_batch) + " over " +
                  std::to_string(plan.ranks) + " rank(s): " + std::to_string(plan.batch_per_rank) +
                  " images per rank x " + std::to_string(plan.accumulate) + " accumulation step(s)";
  if (plan.fixed()) s += " (" + plan.origin + ")";
  return s;
}

}  // namespace l2face::trainer
