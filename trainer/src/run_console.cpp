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
  if (log_) {
    const nlohmann::json line = {{"step", w.step},
                                 {"epoch", w.epoch},
                                 {"loss", w.loss},
                                 {"accuracy", w.accuracy},
                                 {"lr", w.lr},
                                 {"alpha", w.alpha},
                                 {"skipped_steps", w.skipped_total}};
    log_ << line.dump() << "\n" << std::flush;
  }
  if (!progress_) return;
  monitoring::ProgressSnapshot s;
  s.step = w.step;
  s.total_steps = w.total_steps;
  s.epoch = w.epoch;
  s.loss = w.loss;
  s.accuracy = w.accuracy;
  s.elapsed_seconds = w.elapsed_seconds;
  s.images_per_second = w.images_per_second;
  s.lr = w.lr;
  s.alpha = w.alpha;
  progress_->update(s);
}

void RunConsole::say(const std::string& text) {
  if (!leader_) return;
  auto paused = pause();
  std::cerr << text << std::flush;
}

}  // namespace l2face::trainer
