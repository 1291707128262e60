// synth, train and data stats: option plumbing from the CLI and config to the modules.
#include "commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "config.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/data/dataset.h"
#include "l2face/trainer/trainer.h"

namespace fs = std::filesystem;

namespace l2face::launch {
namespace {

void writeText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int runSynth(const data::SynthOptions& opt) {
  data::SynthReport r = data::synthesizeCorpus(opt);
  std::cout << "wrote " << r.train_images << " training images, " << r.eval_images
            << " evaluation images and " << r.pairs << " pairs to " << opt.out << " in "
            << r.seconds << " s\n";
  return kExitOk;
}

int runDataStats(const std::string& path) {
  data::ImageFolderDataset ds(path);
  std::cout << data::statsJson(data::computeStats(ds));
  return kExitOk;
}

int runTrain(const TrainArgs& args) {
  Config cfg = loadConfig(args.config, args.overrides);
  comm::RunContext ctx = comm::runContextFromEnvironment();
  auto comm = comm::makeLocalCommunicator();
  if (ctx.world_size != comm->size()) {
    throw std::runtime_error("launched as rank " + std::to_string(ctx.rank) + " of " +
                             std::to_string(ctx.world_size) +
                             " but this build trains with the local backend only (world of 1)");
  }
  ctx.run_dir = cfg.run.dir;
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
  topt.config_digest = configDigest(cfg, {"model", "head", "classifier"});

  trainer::TrainSummary summary = trainer::train(topt, *comm, ctx);
  if (ctx.isLeader()) {
    std::string json = trainer::summaryJson(summary);
    writeText(fs::path(cfg.run.dir) / "summary.json", json);
    std::cout << json;
  }
  return kExitOk;
}

}  // namespace l2face::launch
