// SVG to PNG through an installed converter (rsvg-convert or a real ImageMagick convert).
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "l2face/eval/errors.h"
#include "l2face/eval/plot.h"

extern char** environ;

namespace l2face::eval {
namespace {

// The executable `name` on PATH, or "".
std::string onPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

struct Finished {
  int status = -1;     // exit code, or -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs program with args (no shell), stdin from /dev/null, output captured.
Finished runProgram(const std::string& program, const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) throw EvalError("cannot create a pipe to run " + program);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<std::string> argv_storage = {program};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  Finished result;
  if (rc != 0) {
    ::close(fds[0]);
    result.output = "cannot start " + program;
    return result;
  }
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && result.output.size() < 64 * 1024)
      result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

std::string findPngConverter() {
  if (!onPath("rsvg-convert").empty()) return "rsvg-convert";
  // A program named convert is not necessarily ImageMagick (stand-ins and unrelated tools use
  // the name): only a real one prints "Version: ImageMagick".
  const std::string convert = onPath("convert");
  if (!convert.empty()) {
    const Finished version = runProgram(convert, {"-version"});
    if (version.status == 0 && version.output.find("Version: ImageMagick") != std::string::npos) {
      return "convert";
    }
  }
  return "";
}

std::string svgToPng(const std::string& svg_path, const std::string& png_path) {
  const std::string tool = findPngConverter();
  if (tool.empty()) return "";
  const std::vector<std::string> args = tool == "rsvg-convert"
                                            ? std::vector<std::string>{"-o", png_path, svg_path}
                                            : std::vector<std::string>{svg_path, png_path};
  const Finished done = runProgram(onPath(tool), args);
  std::error_code ec;
  if (done.status != 0 || !std::filesystem::is_regular_file(png_path, ec)) {
    throw EvalError(png_path + ": " + tool + " could not convert " + svg_path + " (exit " +
                    std::to_string(done.status) + "): " + done.output);
  }
  return tool;
}

}  // namespace l2face::eval
