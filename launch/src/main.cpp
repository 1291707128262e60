// l2face: the command-line entry point; subcommands register themselves (cmd_*.cpp).
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.h"
#include "config.h"

#ifndef L2FACE_VERSION
#define L2FACE_VERSION "0.0.0"
#endif

using namespace l2face::launch;

int main(int argc, char** argv) {
  CLI::App app{"l2face: face-recognition training with the L2-constrained softmax loss"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  std::vector<Command> commands;
  addDataCommands(app, commands);
  addTrainCommands(app, commands);
  addEvalCommands(app, commands);
  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    int rc = app.exit(err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  try {
    for (const Command& c : commands) {
      if (*c.app) return c.run();
    }
    if (*version) std::cout << "l2face " << L2FACE_VERSION << "\n";
    return kExitOk;
  } catch (const ConfigError& err) {
    std::cerr << "l2face: configuration error: " << err.what() << "\n";
    return kExitUsage;
  } catch (const std::invalid_argument& err) {
    std::cerr << "l2face: invalid argument: " << err.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& err) {
    std::cerr << "l2face: error: " << err.what() << "\n";
    return kExitFailure;
  }
}
