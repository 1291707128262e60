// runCommand and venvPython: tests that use the project's Python (.venv) as an independent oracle.
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <utility>

namespace l2face::testing {

// Runs `command` through the shell; returns (exit status, stdout). Exit status -1 when the command
// could not start or ended on a signal.
inline std::pair<int, std::string> runCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, ""};
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The project's .venv Python when it can import `module` ("" = any), else "" (the caller skips).
inline std::string venvPython(const std::string& module = "") {
  const std::string py = std::string(L2FACE_SOURCE_DIR) + "/.venv/bin/python";
  if (!std::filesystem::exists(py)) return "";
  if (!module.empty() &&
      runCommand("'" + py + "' -c 'import " + module + "' 2>/dev/null").first != 0) {
    return "";
  }
  return py;
}

}  // namespace l2face::testing
