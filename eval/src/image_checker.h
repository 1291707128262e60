// Checking that the images a protocol file names exist, once per path (private to the module).
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <unordered_map>

#include "l2face/eval/errors.h"
#include "text_util.h"

namespace l2face::eval::detail {

// Remembers each answer: LFW and IJB files name the same image many times.
class ImageChecker {
 public:
  explicit ImageChecker(const std::string& file) : file_(file) {}

  void check(const std::string& path, int64_t line) {
    auto it = known_.find(path);
    if (it == known_.end()) {
      std::error_code ec;
      it = known_.emplace(path, std::filesystem::is_regular_file(path, ec)).first;
    }
    if (!it->second) {
      throw EvalError(where(file_, line) + ": image not found: " + path +
                      " (check the image root / --images)");
    }
  }

 private:
  std::string file_;
  std::unordered_map<std::string, bool> known_;
};

// `relative` joined to `root` unless absolute, lexically normalised.
inline std::string joinPath(const std::filesystem::path& root, const std::string& relative) {
  const std::filesystem::path p(relative);
  return (p.is_absolute() ? p : root / p).lexically_normal().string();
}

}  // namespace l2face::eval::detail
