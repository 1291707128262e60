// l2face: the command-line entry point; subcommands register themselves (cmd_*.cpp).
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>

#include "commands.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/launch/internal/config.h"

#ifndef L2FACE_VERSION
#define L2FACE_VERSION "0.0.0"
#endif

using namespace l2face::launch;

namespace {

int run(const std::vector<Command>& commands, CLI::App* version, bool& agreed) {
  for (const Command& c : commands) {
    if (*c.app) {
      agreed = c.agreed_exit;
      return c.run();
    }
  }
  if (*version) std::cout << "l2face " << L2FACE_VERSION << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"l2face: face-recognition training with the L2-constrained softmax loss"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  std::vector<Command> commands;
  addDataCommands(app, commands);
  addTrainCommands(app, commands);
  addEvalCommands(app, commands);
  addEmbedCommands(app, commands);
  addExportCommands(app, commands);
  addDoctorCommands(app, commands);
  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    int rc = app.exit(err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  // Under mpirun/srun, MPI lives as long as main (no fork or system() after this point).
  std::optional<l2face::comm::MpiSession> mpi;
  std::string who = "l2face";
  int rc = kExitOk;
  bool agreed = false;  // set when the command's exit code is the same on every rank
  try {
    if (l2face::comm::launchedUnderMpi()) {
      mpi.emplace(&argc, &argv);
      if (mpi->size() > 1) who += " (rank " + std::to_string(mpi->rank()) + ")";
    }
    rc = run(commands, version, agreed);
  } catch (const ConfigError& err) {
    agreed = false;
    std::cerr << who << ": configuration error: " << err.what() << "\n";
    rc = kExitUsage;
  } catch (const std::invalid_argument& err) {
    agreed = false;
    std::cerr << who << ": invalid argument: " << err.what() << "\n";
    rc = kExitUsage;
  } catch (const std::exception& err) {
    agreed = false;
    std::cerr << who << ": error: " << err.what() << "\n";
    rc = kExitFailure;
  }
  // The other ranks may be waiting in a collective for this one: end them all now, unless every
  // rank returned this code by agreement.
  if (rc != kExitOk && !agreed && mpi && mpi->size() > 1) mpi->abort(rc);
  return rc;
}
