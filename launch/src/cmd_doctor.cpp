// doctor: what each rank of a launch sees (geometry, devices, versions, network, run directory,
// metrics port, backend), gathered on every rank so that all agree on the verdict; rank 0 prints.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "commands.h"
#include "l2face/comm/communicator.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/comm/run_context.h"
#include "l2face/comm/tcp_store.h"
#include "l2face/launch/internal/config.h"
#include "l2face/launch/internal/doctor_checks.h"

using nlohmann::json;

namespace l2face::launch {
namespace {

struct DoctorArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string run_dir;
  int port = -1;
  std::string bind;
  double min_free_gb = 10;
  std::string json_out;
  bool verbose = false;
  double timeout_seconds = 120;
};

// How the ranks exchange their reports. Every method is collective (same order on every rank).
class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string name() const = 0;
  // Rank 0's text, on every rank.
  virtual std::string broadcastFrom0(const std::string& text) = 0;
  // Every rank's text, indexed by rank, on every rank.
  virtual std::vector<std::string> allGather(const std::string& text) = 0;
  // After the last exchange: a server rank waits until every rank has read what it needs.
  virtual void finish() {}
};

class SelfChannel final : public Channel {
 public:
  std::string name() const override { return "none (one rank)"; }
  std::string broadcastFrom0(const std::string& text) override { return text; }
  std::vector<std::string> allGather(const std::string& text) override { return {text}; }
};

// Over a Communicator (the mpi backend under mpirun/srun).
class CommChannel final : public Channel {
 public:
  explicit CommChannel(std::unique_ptr<comm::Communicator> c) : comm_(std::move(c)) {}
  std::string name() const override { return comm_->backend(); }
  std::string broadcastFrom0(const std::string& text) override {
    int64_t n = static_cast<int64_t>(text.size());
    comm_->broadcast(&n, 1, comm::DType::kInt64, 0);
    std::string out = comm_->rank() == 0 ? text : std::string(static_cast<size_t>(n), '\0');
    if (n > 0) comm_->broadcast(out.data(), static_cast<size_t>(n), comm::DType::kUInt8, 0);
    return out;
  }
  std::vector<std::string> allGather(const std::string& text) override {
    const size_t p = static_cast<size_t>(comm_->size());
    int64_t mine = static_cast<int64_t>(text.size());
    std::vector<int64_t> lengths(p);
    comm_->allGather(&mine, lengths.data(), 1, comm::DType::kInt64);
    const size_t width = static_cast<size_t>(*std::max_element(lengths.begin(), lengths.end()));
    std::string padded = text;
    padded.resize(width, '\0');
    std::string all(width * p, '\0');
    if (width > 0) comm_->allGather(padded.data(), all.data(), width, comm::DType::kUInt8);
    std::vector<std::string> out(p);
    for (size_t r = 0; r < p; ++r) out[r] = all.substr(r * width, static_cast<size_t>(lengths[r]));
    return out;
  }

 private:
  std::unique_ptr<comm::Communicator> comm_;
};

// Over the TCP store (jobs started without MPI: L2FACE_MASTER_ADDR/PORT/JOB_TOKEN), rank 0
// serving it, as the NCCL bootstrap does.
class StoreChannel final : public Channel {
 public:
  StoreChannel(const comm::RunContext& ctx, double timeout_seconds)
      : rank_(ctx.rank), world_(ctx.world_size), timeout_(timeout_seconds) {
    comm::StoreClientOptions co =
        comm::storeClientOptionsFromEnvironment(ctx.rank, timeout_seconds);
    address_ = co.host + ":" + std::to_string(co.port);
    if (rank_ == 0) {
      comm::StoreServerOptions so;
      so.port = co.port;
      so.token = co.token;
      so.world_size = ctx.world_size;  // one connection per rank; later ones are refused
      server_ = std::make_unique<comm::TcpStoreServer>(so);
    }
    client_ = std::make_unique<comm::TcpStoreClient>(co);
  }
  std::string name() const override { return "tcp store at " + address_; }
  std::string broadcastFrom0(const std::string& text) override {
    if (rank_ == 0) {
      client_->set("l2face/doctor/broadcast", text);
      return text;
    }
    return client_->get("l2face/doctor/broadcast");
  }
  std::vector<std::string> allGather(const std::string& text) override {
    client_->set(key(rank_), text);
    std::vector<std::string> keys;
    for (int r = 0; r < world_; ++r) keys.push_back(key(r));
    client_->wait(keys, timeout_);
    std::vector<std::string> out;
    for (const std::string& k : keys) out.push_back(client_->get(k));
    return out;
  }
  void finish() override {
    client_->add("l2face/doctor/done", 1);
    if (rank_ != 0) return;
    // The server lives in this process: keep it until every rank has read every report.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_);
    while (client_->add("l2face/doctor/done", 0) < world_) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw comm::CommError("doctor: not every rank confirmed reading the reports within " +
                              std::to_string(timeout_) + " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  static std::string key(int r) { return "l2face/doctor/report/" + std::to_string(r); }
  int rank_, world_;
  double timeout_;
  std::string address_;
  std::unique_ptr<comm::TcpStoreServer> server_;
  std::unique_ptr<comm::TcpStoreClient> client_;
};

std::string randomToken() {
  std::random_device rd;
  std::string s;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) s += hex[rd() % 16];
  return s;
}

int runDoctor(const DoctorArgs& args) {
  DoctorOptions opt;
  opt.min_free_gb = args.min_free_gb;
  if (!args.config.empty() || !args.overrides.empty()) {
    Config cfg = loadConfig(args.config, args.overrides);
    opt.run_dir = cfg.run.dir;
    opt.port = cfg.monitoring.serve ? cfg.monitoring.port : 0;
    opt.bind = cfg.monitoring.bind;
    opt.backend = comm::backendName(cfg.comm.backend);
    opt.device = cfg.run.device;
    opt.threads = cfg.run.threads;
  }
  if (!args.run_dir.empty()) opt.run_dir = args.run_dir;
  if (args.port >= 0) opt.port = args.port;
  if (!args.bind.empty()) opt.bind = args.bind;

  comm::RunContext ctx = comm::runContextFromEnvironment();
  std::unique_ptr<Channel> channel;
  std::string channel_problem;
  if (ctx.world_size == 1) {
    channel = std::make_unique<SelfChannel>();
  } else if (comm::MpiSession::active()) {
    comm::CommOptions co;
    co.backend = comm::Backend::kMpi;
    co.timeout_seconds = args.timeout_seconds;
    channel = std::make_unique<CommChannel>(comm::makeCommunicator(co, ctx));
  } else if (std::getenv("L2FACE_MASTER_ADDR") != nullptr) {
    channel = std::make_unique<StoreChannel>(ctx, args.timeout_seconds);
  } else {
    channel_problem = "a world of " + std::to_string(ctx.world_size) + " ranks (found by " +
                      ctx.source + ") but no way to reach the other ranks: not under MPI and no " +
                      "L2FACE_MASTER_ADDR; launch with mpirun, srun --mpi=pmix or l2face-run";
  }

  // Directories the checks create (the run directory) are removed again when still empty.
  const std::vector<std::string> created = missingDirectories(opt.run_dir);
  std::vector<json> reports;
  json verdict;
  if (channel) {
    // 1. Rank 0 leaves a marker in the run directory; 2. every rank looks for it while making its
    // report; 3. reports are exchanged, so every rank computes the same verdict.
    std::string marker = ctx.rank == 0 ? createSharedMarker(opt.run_dir, randomToken()) : "";
    marker = channel->broadcastFrom0(marker);
    json mine = rankReport(opt, ctx, marker);
    mine["channel"] = channel->name();
    for (const std::string& text : channel->allGather(mine.dump()))
      reports.push_back(json::parse(text));
    channel->finish();
    if (ctx.rank == 0) removeSharedMarker(opt.run_dir, marker);
    removeEmptyDirectories(created);  // every rank has finished its probe
    verdict = summarise(reports);
  } else {
    // (Created directories stay: ranks that cannot reach each other cannot agree when to remove.)
    json mine = rankReport(opt, ctx, "");
    mine["problems"].push_back(channel_problem);
    reports.push_back(mine);
    verdict = summarise(reports);
    // This rank's verdict alone; the reports of the others are out of reach.
    json only = json::array();
    for (const json& p : verdict["problems"]) {
      if (p.get<std::string>().rfind("ranks ", 0) != 0) only.push_back(p);
    }
    verdict["problems"] = only;
  }

  const bool printer = ctx.rank == 0 || !channel;
  if (printer) {
    std::cout << formatReports(reports, verdict, args.verbose || reports.size() <= 4) << std::flush;
    if (!args.json_out.empty()) {
      json out = {{"ranks", reports},
                  {"problems", verdict["problems"]},
                  {"warnings", verdict["warnings"]},
                  {"ok", verdict["problems"].empty()}};
      std::ofstream f(args.json_out, std::ios::trunc);
      f << out.dump(2) << "\n";
      if (!f) throw std::runtime_error("cannot write " + args.json_out);
    }
  }
  return verdict["problems"].empty() ? kExitOk : kExitDoctorProblem;
}

}  // namespace

void addDoctorCommands(CLI::App& app, std::vector<Command>& out) {
  auto args = std::make_shared<DoctorArgs>();
  auto* d = app.add_subcommand(
      "doctor",
      "Check what every rank sees before a run: geometry, GPUs, versions, network, run directory, "
      "metrics port, backend (exit 4 when a check fails)");
  d->add_option(
       "--config,-c", args->config,
       "Take run.dir, monitoring.port/bind/serve, comm.backend, run.threads from this config")
      ->check(CLI::ExistingFile);
  d->add_option("--set", args->overrides, "Override a config key: section.key=value (repeatable)");
  d->add_option("--run-dir", args->run_dir,
                "Run directory to check (writable, free space, shared)");
  d->add_option("--port", args->port,
                "Metrics port of local rank 0 (local rank r: port + r); 0 = skip")
      ->check(CLI::Range(0, 65535));
  d->add_option("--bind", args->bind, "Metrics bind address (default 127.0.0.1 or the config's)");
  d->add_option("--min-free-gb", args->min_free_gb,
                "Warn when the run directory has less free space")
      ->check(CLI::NonNegativeNumber);
  d->add_option("--json", args->json_out, "Rank 0 writes every rank's report and the verdict here");
  d->add_option("--timeout", args->timeout_seconds, "Seconds to wait for the other ranks")
      ->check(CLI::PositiveNumber);
  d->add_flag("--verbose,-v", args->verbose, "Details of every rank (default: up to 4 ranks)");
  // Every rank computes the same verdict from the same reports: a non-zero code is agreed on, so
  // main ends the job normally instead of aborting it.
  out.push_back({d, [args] { return runDoctor(*args); }, /*agreed_exit=*/true});
}

}  // namespace l2face::launch
