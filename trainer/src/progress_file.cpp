// ProgressFile: rank 0's RUN_DIR/progress.json, replaced atomically.
#include "progress_file.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <system_error>

namespace fs = std::filesystem;

namespace l2face::trainer {

ProgressFile::ProgressFile(bool leader, const std::string& run_dir, const BatchPlan& plan,
                           int64_t started_step, int64_t restarts)
    : leader_(leader),
      path_((fs::path(run_dir) / "progress.json").string()),
      plan_(plan),
      started_step_(started_step),
      restarts_(restarts) {}

void ProgressFile::write(int64_t step, bool stepped) {
  if (!leader_) return;
  using namespace std::chrono;
  const double now = duration<double>(system_clock::now().time_since_epoch()).count();
  if (stepped && first_step_time_ < 0) first_step_time_ = now;
  nlohmann::json j = {
      {"step", step},
      {"time", now},
      {"world_size", plan_.ranks},
      {"started_step", started_step_},
      {"global_batch", plan_.global_batch},
      {"batch_per_rank", plan_.batch_per_rank},
      {"accumulate_steps", plan_.accumulate},
      {"restarts", restarts_}};
  if (first_step_time_ >= 0) j["first_step_time"] = first_step_time_;
  const std::string tmp = path_ + ".tmp";
  std::error_code ec;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump() << "\n";
    out.close();
    if (!out) ec = std::make_error_code(std::errc::io_error);
  }
  if (!ec) fs::rename(tmp, path_, ec);
  if (ec && !warned_) {
    warned_ = true;
    std::cerr << "[l2face] warning: cannot write " << path_ << " (" << ec.message()
              << "); training goes on\n";
  }
}

}  // namespace l2face::trainer
