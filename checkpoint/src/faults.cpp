// Parsing L2FACE_FAULT into a FaultPlan, and the crash points the commit protocol calls.
#include "l2face/checkpoint/faults.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace l2face::checkpoint {
namespace {

const char* const kKnown[] = {"checkpoint.write_fail", "checkpoint.slow_write",
                              "checkpoint.crash_before_manifest", "checkpoint.crash_before_latest"};

int64_t parseInt(const std::string& text, const std::string& what, const std::string& spec) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 18) {
    throw std::invalid_argument("L2FACE_FAULT '" + spec + "': " + what +
                                " must be a non-negative " + "integer, got '" + text + "'");
  }
  return std::stoll(text);
}

Fault parseOne(const std::string& item, const std::string& spec) {
  std::vector<std::string> parts;
  std::stringstream ss(item);
  for (std::string p; std::getline(ss, p, '@');) parts.push_back(p);
  if (parts.empty() || parts[0].empty()) {
    throw std::invalid_argument("L2FACE_FAULT '" + spec + "': empty fault name in '" + item + "'");
  }
  Fault f;
  const size_t eq = parts[0].find('=');
  f.name = parts[0].substr(0, eq);
  if (eq != std::string::npos)
    f.value = parseInt(parts[0].substr(eq + 1), f.name + "'s value", spec);
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& q = parts[i];
    if (q.rfind("rank", 0) == 0) {
      f.rank = static_cast<int>(parseInt(q.substr(4), "@rank", spec));
    } else if (q.rfind("step", 0) == 0) {
      f.step = parseInt(q.substr(4), "@step", spec);
    } else {
      throw std::invalid_argument("L2FACE_FAULT '" + spec + "': unknown qualifier '@" + q +
                                  "' (expected @rankR or @stepN)");
    }
  }
  if (f.name.rfind("checkpoint.", 0) == 0) {
    bool known = false;
    for (const char* k : kKnown) known = known || f.name == k;
    if (!known) {
      std::string list;
      for (const char* k : kKnown) list += std::string(list.empty() ? "" : ", ") + k;
      throw std::invalid_argument("L2FACE_FAULT '" + spec + "': unknown fault '" + f.name +
                                  "' (checkpoint faults: " + list + ")");
    }
  }
  return f;
}

}  // namespace

FaultPlan FaultPlan::parse(const std::string& spec) {
  FaultPlan plan;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    plan.faults_.push_back(parseOne(item, spec));
  }
  return plan;
}

FaultPlan FaultPlan::fromEnvironment() {
  const char* v = std::getenv("L2FACE_FAULT");
  return v == nullptr ? FaultPlan{} : parse(v);
}

const Fault* FaultPlan::find(const std::string& name, int rank, int64_t step) const {
  for (const Fault& f : faults_) {
    if (f.name == name && (f.rank < 0 || f.rank == rank) && (f.step < 0 || f.step == step)) {
      return &f;
    }
  }
  return nullptr;
}

void FaultPlan::crashPoint(const std::string& name, int rank, int64_t step) const {
  if (!has(name, rank, step)) return;
  std::fprintf(stderr,
               "[l2face] rank %d: injected fault %s at step %lld: exiting with %d\n",
               rank, name.c_str(), static_cast<long long>(step), kInjectedCrashExitCode);
  std::fflush(stderr);
  std::_Exit(kInjectedCrashExitCode);
}

}  // namespace l2face::checkpoint
