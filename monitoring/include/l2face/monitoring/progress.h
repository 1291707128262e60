// ProgressLine: rank 0's live training progress, in place on a terminal, periodic lines otherwise.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace l2face::monitoring {

struct ProgressSnapshot {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t epoch = 0;
  double loss = 0;
  double accuracy = 0;
  double images_per_second = 0;
  double lr = 0;
  double alpha = 0;
  double elapsed_seconds = 0;
};

// Formats and prints progress. Not thread-safe; one owner (the training loop on rank 0).
class ProgressLine {
 public:
  // interactive: rewrite one line with '\r' (default: whether `out` is a terminal).
  explicit ProgressLine(std::FILE* out = stderr);
  ProgressLine(std::FILE* out, bool interactive);
  ~ProgressLine();  // ends an in-place line with a newline

  void update(const ProgressSnapshot& s);

  // While a Pause lives, other text may be written to the same stream: the in-place line is ended
  // first, updates are held, and the newest held one is drawn when the last Pause ends. Pauses
  // nest; a Pause must not outlive its ProgressLine.
  class Pause {
   public:
    explicit Pause(ProgressLine* line);  // null: pauses nothing (ranks without a progress line)
    Pause(Pause&& other) noexcept : line_(other.line_) { other.line_ = nullptr; }
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;
    Pause& operator=(Pause&&) = delete;
    ~Pause();

   private:
    ProgressLine* line_;
  };
  [[nodiscard]] Pause pause() { return Pause(this); }
  static std::string format(const ProgressSnapshot& s);
  static std::string formatDuration(double seconds);

 private:
  std::FILE* out_;
  bool interactive_;
  bool open_line_ = false;
  int paused_ = 0;
  bool held_ = false;
  ProgressSnapshot last_;
  void draw(const ProgressSnapshot& s);
};

}  // namespace l2face::monitoring
