// Test helpers for eval_test: a self-deleting temp directory and error-message expectations.
#pragma once

#include "subprocess.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>

#include "l2face/eval/errors.h"

namespace l2face::eval::testing {

// A fresh temp directory per test, removed with its contents.
class TempDir : public l2face::testing::TempDir {
 public:
  TempDir() : l2face::testing::TempDir("l2face_eval") {}
};

inline void writeFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

using l2face::testing::runCommand;

// The project's Python with numpy, or "" (tests that need it skip).
inline std::string numpyPython() { return l2face::testing::venvPython("numpy"); }

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Expects `fn` to throw EvalError whose message contains every one of `parts`.
template <typename Fn>
void expectEvalError(Fn&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "expected EvalError";
  } catch (const EvalError& e) {
    const std::string what = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
    }
  }
}

}  // namespace l2face::eval::testing
