// train: configuration -> run context -> trainer, then the run's summary.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/run_context.h"
#include "l2face/launch/internal/config.h"
#include "l2face/trainer/device_info.h"
#include "l2face/trainer/trainer.h"

namespace fs = std::filesystem;

namespace l2face::launch {
namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string resume = "none";
  std::string init;  // overrides model.init
  bool keep_global_batch = false;
};

// L2FACE_RESTARTS: restarts of this job so far, set by the elastic supervisor (0 when unset).
int64_t restartsFromEnvironment() {
  const char* v = std::getenv("L2FACE_RESTARTS");
  if (v == nullptr) return 0;
  const std::string text(v);
  const bool digits = !text.empty() && text.size() <= 18 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) {
    throw ConfigError("L2FACE_RESTARTS='" + text + "': expected a non-negative integer (the " +
                      "restarts of this job so far, set by the elastic supervisor), or unset");
  }
  return std::stoll(text);
}

// Preemption: SIGTERM or SIGUSR1 (SLURM's --signal) asks the run to checkpoint and stop at the
// next step boundary; so does a first SIGINT, and a second SIGINT ends the process at once.
std::atomic<int> g_stop{0};
std::atomic<int> g_interrupts{0};

extern "C" void onStopSignal(int sig) {
  if (sig == SIGINT && g_interrupts.fetch_add(1) >= 1) std::_Exit(130);
  g_stop.store(sig);
}

void installStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) sigaction(sig, &sa, nullptr);
}

void writeText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

int runTrain(const TrainArgs& args) {
  Config cfg = loadConfig(args.config, args.overrides);
  const int64_t restarts = restartsFromEnvironment();
  if (!args.init.empty()) cfg.model.init = args.init;
  comm::RunContext ctx = comm::runContextFromEnvironment();
  ctx.run_dir = cfg.run.dir;
  // comm.backend auto follows where the run's tensors live (a CPU run never gets nccl).
  cfg.comm.tensors =
      trainer::tensorDeviceOf(cfg.run.device, trainer::torchDeviceInfo().run_device_auto);
  comm::CommPlanes planes = comm::makeCommPlanes(cfg.comm, ctx);
  comm::Communicator* comm = planes.data.get();
  if (comm->size() != ctx.world_size || comm->rank() != ctx.rank) {
    throw std::runtime_error(
        "the communicator (" + comm->backend() + ", rank " + std::to_string(comm->rank()) + " of " +
        std::to_string(comm->size()) + ") disagrees with the launcher's variables (rank " +
        std::to_string(ctx.rank) + " of " + std::to_string(ctx.world_size) + ")");
  }
  if (ctx.isLeader()) {
    fs::create_directories(cfg.run.dir);
    writeText(fs::path(cfg.run.dir) / "config.yaml", toYaml(cfg));
  }

  trainer::TrainerOptions topt;
  static_cast<trainer::TrainConfig&>(topt) = cfg;
  topt.faults = checkpoint::FaultPlan::fromEnvironment();
  topt.config_digest = configDigest(cfg, {"model", "head"});
  topt.resume = args.resume;
  topt.keep_global_batch = args.keep_global_batch;
  topt.restarts = restarts;
  installStopHandlers();
  topt.stop_requested = &g_stop;

  trainer::TrainSummary summary = trainer::train(topt, *comm, *planes.control, ctx);
  if (ctx.isLeader()) {
    std::string json = trainer::summaryJson(summary);
    writeText(fs::path(cfg.run.dir) / "summary.json", json);
    std::cout << json;
  }
  if (summary.preempted) {
    if (ctx.isLeader()) {
      std::cerr << "[l2face] preempted at step " << summary.steps << "; checkpoint "
                << summary.checkpoint << "; exit " << kExitRequeue
                << " (requeue, then resume with --resume auto)\n";
    }
    // mpirun ends the other ranks when the first exits non-zero: let rank 0 finish writing first.
    planes.control->barrier();
    return kExitRequeue;
  }
  return kExitOk;
}

}  // namespace

void addTrainCommands(CLI::App& app, std::vector<Command>& out) {
  auto args = std::make_shared<TrainArgs>();
  auto* t = app.add_subcommand("train", "Train a model (under mpirun: data-parallel)");
  t->add_option("--config,-c", args->config, "YAML configuration file")->check(CLI::ExistingFile);
  t->add_option("--set", args->overrides, "Override a key: section.key=value (repeatable)");
  t->add_option("--resume", args->resume,
                "none (default), auto (the newest valid checkpoint of run.dir, if any), or a "
                "checkpoint or run directory");
  t->add_option("--init", args->init,
                "Start from a pretrained backbone (sets model.init): an l2face checkpoint or run "
                "directory, an `l2face export` file, or an insightface .pth state dict; the "
                "classifier starts fresh, and --resume wins over it");
  t->add_flag("--keep-global-batch", args->keep_global_batch,
              "When resuming, keep the checkpoint's images per optimizer step on this run's ranks "
              "(data.batch_size: the largest per-rank batch; accumulation steps make up the "
              "rest), so the run continues the same computation; data.global_batch wins if set");
  // Every rank returns the same code (0, or 75 after an agreed preemption).
  out.push_back({t, [args] { return runTrain(*args); }, /*agreed_exit=*/true});
}

}  // namespace l2face::launch
