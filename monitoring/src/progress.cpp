// Progress line formatting: step/total, epoch, loss, accuracy, images/s, ETA.
#include "l2face/monitoring/progress.h"

#include <unistd.h>

#include <cmath>

namespace l2face::monitoring {

ProgressLine::ProgressLine(std::FILE* out) : ProgressLine(out, ::isatty(::fileno(out)) == 1) {}

ProgressLine::ProgressLine(std::FILE* out, bool interactive)
    : out_(out), interactive_(interactive) {}

ProgressLine::~ProgressLine() {
  if (open_line_) std::fputc('\n', out_);
}

std::string ProgressLine::formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  }
  return buf;
}

std::string ProgressLine::format(const ProgressSnapshot& s) {
  double frac = s.total_steps > 0 ? static_cast<double>(s.step) / s.total_steps : 0;
  double eta = s.step > 0 ? s.elapsed_seconds * (s.total_steps - s.step) / s.step : NAN;
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "step %lld/%lld (%3.0f%%) epoch %lld  loss %.4f  acc %5.1f%%  %.0f img/s  "
                "lr %.4g  alpha %.3g  eta %s",
                static_cast<long long>(s.step), static_cast<long long>(s.total_steps), 100 * frac,
                static_cast<long long>(s.epoch), s.loss, 100 * s.accuracy, s.images_per_second,
                s.lr, s.alpha, formatDuration(eta).c_str());
  return buf;
}

ProgressLine::Pause::Pause(ProgressLine* line) : line_(line) {
  if (!line_) return;
  if (line_->paused_++ == 0 && line_->open_line_) {
    std::fputc('\n', line_->out_);
    std::fflush(line_->out_);
    line_->open_line_ = false;
  }
}

ProgressLine::Pause::~Pause() {
  if (!line_ || --line_->paused_ > 0) return;
  if (line_->held_) {
    line_->held_ = false;
    line_->draw(line_->last_);
  }
}

void ProgressLine::update(const ProgressSnapshot& s) {
  if (paused_ > 0) {
    last_ = s;
    held_ = true;
    return;
  }
  draw(s);
}

void ProgressLine::draw(const ProgressSnapshot& s) {
  std::string line = format(s);
  if (interactive_) {
    std::fprintf(out_, "\r\033[K%s", line.c_str());
    open_line_ = true;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

}  // namespace l2face::monitoring
