// The l2face subcommands: each file registers its own subcommands and options with CLI11.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace l2face::launch {

// Exit codes (docs/operations.md): 0 done, 1 runtime failure, 2 usage or configuration error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
// train stopped on SIGTERM/SIGUSR1 after saving a checkpoint: requeue the job and resume.
inline constexpr int kExitRequeue = 75;

// A registered subcommand: run() is called when `app` was selected on the command line.
struct Command {
  CLI::App* app;
  std::function<int()> run;
  // run() returns the same exit code on every rank (the ranks agreed on it): main then ends MPI
  // normally on a non-zero code instead of aborting the job.
  bool agreed_exit = false;
};

void addDataCommands(CLI::App& app, std::vector<Command>& out);   // synth, data stats (cmd_data.cpp)
void addTrainCommands(CLI::App& app, std::vector<Command>& out);  // train (cmd_train.cpp)
void addEvalCommands(CLI::App& app, std::vector<Command>& out);   // eval (cmd_eval.cpp)
void addEmbedCommands(CLI::App& app, std::vector<Command>& out);  // embed (cmd_embed.cpp)
void addExportCommands(CLI::App& app, std::vector<Command>& out);  // export (cmd_export.cpp)
void addDoctorCommands(CLI::App& app, std::vector<Command>& out);  // doctor (cmd_doctor.cpp)

}  // namespace l2face::launch
