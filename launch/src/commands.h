// The l2face subcommands, each returning the process exit code.
#pragma once

#include <string>
#include <vector>

#include "l2face/data/synth.h"

namespace l2face::launch {

// Exit codes (docs/operations.md): 0 done, 1 runtime failure, 2 usage or configuration error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
};

struct EvalArgs {
  std::string checkpoint;
  std::string pairs;
  std::string images;
  std::string scores;
  std::string out;
  std::string device = "auto";
  std::vector<double> far = {1e-3, 1e-2};
  int batch_size = 128;
  bool no_flip = false;
};

int runSynth(const data::SynthOptions& opt);
int runTrain(const TrainArgs& args);
int runEval(const EvalArgs& args);
int runDataStats(const std::string& path);

}  // namespace l2face::launch
