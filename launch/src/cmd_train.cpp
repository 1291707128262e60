// train: configuration -> run context -> trainer, then the run's summary.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "config.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/trainer/trainer.h"

namespace fs = std::filesystem;

namespace l2face::launch {
namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
};

void writeText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

int runTrain(const TrainArgs& args) {
  Config cfg = loadConfig(args.config, args.overrides);
  comm::RunContext ctx = comm::runContextFromEnvironment();
  ctx.run_dir = cfg.run.dir;
  comm::CommOptions copt;
  copt.backend = comm::backendFromName(cfg.comm.backend);
  copt.timeout_seconds = cfg.comm.timeout_seconds;
  copt.bucket_cap_mb = cfg.comm.bucket_cap_mb;
  copt.first_bucket_mb = cfg.comm.first_bucket_mb;
  std::unique_ptr<comm::Communicator> comm = comm::makeCommunicator(copt, ctx);
  if (comm->size() != ctx.world_size || comm->rank() != ctx.rank) {
    throw std::runtime_error("the communicator (" + comm->backend() + ", rank " +
                             std::to_string(comm->rank()) + " of " + std::to_string(comm->size()) +
                             ") disagrees with the launcher's variables (rank " +
                             std::to_string(ctx.rank) + " of " + std::to_string(ctx.world_size) + ")");
  }
  if (ctx.isLeader()) {
    fs::create_directories(cfg.run.dir);
    writeText(fs::path(cfg.run.dir) / "config.yaml", toYaml(cfg));
  }

  trainer::TrainerOptions topt;
  topt.run = cfg.run;
  topt.data = cfg.data;
  topt.model = cfg.model;
  topt.head = cfg.head;
  topt.classifier = cfg.classifier;
  topt.optim = cfg.optim;
  topt.checkpoint = cfg.checkpoint;
  topt.monitoring = cfg.monitoring;
  topt.eval = cfg.eval;
  topt.comm = copt;
  topt.config_digest = configDigest(cfg, {"model", "head", "classifier"});

  trainer::TrainSummary summary = trainer::train(topt, *comm, ctx);
  if (ctx.isLeader()) {
    std::string json = trainer::summaryJson(summary);
    writeText(fs::path(cfg.run.dir) / "summary.json", json);
    std::cout << json;
  }
  return kExitOk;
}

}  // namespace

void addTrainCommands(CLI::App& app, std::vector<Command>& out) {
  auto args = std::make_shared<TrainArgs>();
  auto* t = app.add_subcommand("train", "Train a model (under mpirun: data-parallel)");
  t->add_option("--config,-c", args->config, "YAML configuration file")->check(CLI::ExistingFile);
  t->add_option("--set", args->overrides, "Override a key: section.key=value (repeatable)");
  out.push_back({t, [args] { return runTrain(*args); }});
}

}  // namespace l2face::launch
