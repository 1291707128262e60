// RunConsole: progress line, train_log.jsonl and paused messages of rank 0.
#include "run_console.h"

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

namespace l2face::trainer {

RunConsole::RunConsole(bool leader, const std::string& run_dir) : leader_(leader) {
  if (!leader_) return;
  progress_ = std::make_unique<monitoring::ProgressLine>(stderr);
  log_.open(std::filesystem::path(run_dir) / "train_log.jsonl", std::ios::app);
}

void RunConsole::window(const WindowReport& w) {
  if (!leader_) return;
  const monitoring::ProgressSnapshot& p = w.progress;
  if (log_) {
    const nlohmann::json line = {{"step", p.step},
                                 {"epoch", p.epoch},
                                 {"loss", p.loss},
                                 {"accuracy", p.accuracy},
                                 {"lr", p.lr},
                                 {"alpha", p.alpha},
                                 {"skipped_steps", w.skipped_total}};
    log_ << line.dump() << "\n" << std::flush;
  }
  if (progress_) progress_->update(p);
}

void RunConsole::say(const std::string& text) {
  if (!leader_) return;
  auto paused = pause();
  std::cerr << text << std::flush;
}

}  // namespace l2face::trainer
