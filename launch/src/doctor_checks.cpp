// `l2face doctor`'s checks: one rank's view of its host, and the agreement of all ranks' views.
#include "l2face/launch/internal/doctor_checks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "l2face/comm/communicator.h"
#include "l2face/comm/runtime_info.h"
#include "l2face/trainer/device_info.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace l2face::launch {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string errnoText(int err) { return std::strerror(err); }

// Every interface with its flags and addresses (AF_PACKET entries give interfaces that have none).
json interfaces() {
  json out = json::array();
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  std::map<std::string, json> by_name;
  std::vector<std::string> order;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_name == nullptr) continue;
    std::string name = it->ifa_name;
    if (!by_name.count(name)) {
      order.push_back(name);
      by_name[name] = {{"name", name},
                       {"up", (it->ifa_flags & IFF_UP) != 0},
                       {"loopback", (it->ifa_flags & IFF_LOOPBACK) != 0},
                       {"addresses", json::array()}};
    }
    if (it->ifa_addr == nullptr) continue;
    char text[INET6_ADDRSTRLEN] = {0};
    int family = it->ifa_addr->sa_family;
    if (family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(it->ifa_addr)->sin_addr, text,
                sizeof(text));
    } else if (family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(it->ifa_addr)->sin6_addr, text,
                sizeof(text));
    } else {
      continue;
    }
    by_name[name]["addresses"].push_back(text);
  }
  freeifaddrs(list);
  for (const std::string& n : order) out.push_back(by_name[n]);
  return out;
}

// Writes, fsyncs and removes a probe file; "" when that worked, else what failed.
std::string probeWritable(const fs::path& dir, const std::string& probe_name) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return "cannot create " + dir.string() + ": " + ec.message();
  const fs::path probe = dir / probe_name;
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return "cannot create a file in " + dir.string() + ": " + errnoText(errno);
  const char text[] = "l2face doctor probe\n";
  bool ok = ::write(fd, text, sizeof(text) - 1) == static_cast<ssize_t>(sizeof(text) - 1);
  int err = errno;
  ok = ::fsync(fd) == 0 && ok;
  if (!ok && err == 0) err = errno;
  ::close(fd);
  fs::remove(probe, ec);
  if (!ok) return "cannot write and sync a file in " + dir.string() + ": " + errnoText(err);
  if (ec) return "cannot remove the probe file " + probe.string() + ": " + ec.message();
  return "";
}

// Binds and listens on bind:port the way the metrics exposer will; "" when that worked.
std::string probePort(const std::string& bind, int port) {
  if (port < 1 || port > 65535) return "port " + std::to_string(port) + " is out of range";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(bind.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) return "cannot resolve the bind address '" + bind + "': " + gai_strerror(rc);
  std::string error;
  int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd < 0) {
    error = std::string("socket: ") + errnoText(errno);
  } else {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as the exposer does
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
      int err = errno;
      error = err == EADDRINUSE ? "is in use by another process"
              : err == EADDRNOTAVAIL
                  ? "cannot be bound: " + bind + " is not an address of this host"
                  : "cannot be bound: " + errnoText(err);
    } else if (::listen(fd, 1) != 0) {
      error = "cannot listen: " + errnoText(errno);
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  return error;
}

// The launcher variables this rank was started with (the job token's value is a secret).
json launcherVariables() {
  json out = json::object();
  static const char* kNames[] = {"L2FACE_RANK",
                                 "L2FACE_WORLD_SIZE",
                                 "L2FACE_LOCAL_RANK",
                                 "L2FACE_LOCAL_SIZE",
                                 "L2FACE_GPU",
                                 "L2FACE_MASTER_ADDR",
                                 "L2FACE_MASTER_PORT",
                                 "L2FACE_JOB_TOKEN",
                                 "OMPI_COMM_WORLD_RANK",
                                 "OMPI_COMM_WORLD_SIZE",
                                 "OMPI_COMM_WORLD_LOCAL_RANK",
                                 "OMPI_COMM_WORLD_LOCAL_SIZE",
                                 "PMIX_RANK",
                                 "SLURM_JOB_ID",
                                 "SLURM_STEP_ID",
                                 "SLURM_PROCID",
                                 "SLURM_STEP_NUM_TASKS",
                                 "SLURM_NTASKS",
                                 "SLURM_LOCALID",
                                 "SLURM_NODEID",
                                 "SLURM_STEP_TASKS_PER_NODE",
                                 "SLURM_NTASKS_PER_NODE",
                                 "SLURM_TASKS_PER_NODE",
                                 "CUDA_VISIBLE_DEVICES",
                                 "OMP_NUM_THREADS"};
  for (const char* name : kNames) {
    const char* v = std::getenv(name);
    if (v == nullptr) continue;
    out[name] = std::string(name) == "L2FACE_JOB_TOKEN" ? std::string("(set)") : std::string(v);
  }
  return out;
}

std::string prefix(const json& r) {
  return "rank " + std::to_string(r.value("rank", -1)) + " (" + r.value("host", std::string("?")) +
         ")";
}

std::string joinInts(const std::vector<int>& xs) {
  std::string s;
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + std::to_string(xs[i]);
  return s;
}

std::string gib(double bytes) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(1);
  o << bytes / kGiB << " GiB";
  return o.str();
}

// Problem when ranks disagree on a field: "torch version: 2.11.0 on ranks 0,1; 2.10.0 on rank 2".
void requireSame(const std::vector<json>& reports, const std::string& what,
                 const std::function<std::string(const json&)>& get, json& problems) {
  std::map<std::string, std::vector<int>> values;
  for (const json& r : reports) values[get(r)].push_back(r.value("rank", -1));
  if (values.size() <= 1) return;
  std::string text = "ranks disagree on " + what + ":";
  for (const auto& [v, ranks] : values) {
    text += " '" + v + "' on rank" + (ranks.size() > 1 ? "s " : " ") + joinInts(ranks) + ";";
  }
  text.pop_back();
  problems.push_back(text);
}

}  // namespace

json rankReport(const DoctorOptions& options, const comm::RunContext& ctx,
                const std::string& shared_marker) {
  json problems = json::array(), warnings = json::array();
  json r;
  r["rank"] = ctx.rank;
  r["world_size"] = ctx.world_size;
  r["local_rank"] = ctx.local_rank;
  r["local_size"] = ctx.local_size;
  r["source"] = ctx.source;
  r["local_source"] = ctx.local_source;
  r["host"] = ctx.host;
  r["pid"] = static_cast<int64_t>(::getpid());
  r["variables"] = launcherVariables();

  // Versions and devices.
  const comm::RuntimeInfo rt = comm::runtimeInfo();
  const trainer::TorchDeviceInfo torch_info = trainer::torchDeviceInfo();
  r["versions"] = {{"torch", torch_info.torch_version},
                   {"torch_cuda", torch_info.cuda_version},
                   {"cudnn", torch_info.cudnn_version},
                   {"mpi", rt.mpi_library},
                   {"nccl", rt.nccl_version},
                   {"cuda_runtime", comm::cudaVersionString(rt.cuda_runtime_version)},
                   {"cuda_driver", comm::cudaVersionString(rt.cuda_driver_version)}};
  json devices = json::array();
  for (const comm::CudaDeviceInfo& d : rt.cuda_devices) {
    devices.push_back({{"index", d.index},
                       {"name", d.name},
                       {"memory_bytes", d.memory_bytes},
                       {"pci_bus_id", d.pci_bus_id}});
  }
  const int visible = static_cast<int>(rt.cuda_devices.size());
  json gpu = {{"devices", devices},
              {"torch_devices", torch_info.cuda_devices},
              {"run_device_auto", torch_info.run_device_auto},
              {"overridden", ctx.gpu_overridden},
              {"chosen", -1},
              {"chosen_pci_bus_id", ""}};
  try {
    int chosen = comm::cudaDeviceForRank(ctx, visible);
    gpu["chosen"] = chosen;
    if (chosen >= 0) gpu["chosen_pci_bus_id"] = rt.cuda_devices[chosen].pci_bus_id;
  } catch (const std::exception& e) {
    problems.push_back(e.what());
  }
  if (visible != torch_info.cuda_devices) {
    warnings.push_back("the CUDA runtime sees " + std::to_string(visible) +
                       " GPU(s) but torch sees " + std::to_string(torch_info.cuda_devices) +
                       (torch_info.cuda_built ? "" : " (this torch has no CUDA)"));
  }
  if (visible > 0 && ctx.local_size > visible && !ctx.gpu_overridden) {
    problems.push_back(std::to_string(ctx.local_size) + " ranks on this host but " +
                       std::to_string(visible) +
                       " GPU(s): NCCL needs one GPU per rank (or set L2FACE_GPU per rank)");
  }
  r["gpu"] = gpu;

  // The backend makeCommunicator would pick.
  try {
    comm::CommOptions co;
    co.backend = comm::backendFromName(options.backend);
    co.tensors = trainer::tensorDeviceOf(options.device, torch_info.run_device_auto);
    r["backend"] = comm::backendName(comm::resolveBackend(co, ctx));
  } catch (const std::exception& e) {
    r["backend"] = "none";
    problems.push_back(std::string("no communication backend: ") + e.what());
  }

  // Threads: what the trainer will use (run.threads 0 = cores / local ranks).
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  const int per_rank =
      options.threads > 0 ? options.threads : std::max(1, hw / std::max(1, ctx.local_size));
  r["threads"] = {{"cores", hw}, {"per_rank", per_rank}};
  if (hw > 0 && ctx.local_size > hw) {
    warnings.push_back(std::to_string(ctx.local_size) + " ranks on " + std::to_string(hw) +
                       " cores: ranks oversubscribe the host (expect slow, not wrong, runs)");
  }

  r["interfaces"] = interfaces();

  // Run directory: writable, free space, shared with rank 0.
  json rd = {{"path", options.run_dir}, {"checked", !options.run_dir.empty()}};
  if (!options.run_dir.empty()) {
    const fs::path dir = fs::absolute(options.run_dir);
    rd["path"] = dir.string();
    std::string probe = ".l2face-doctor-probe-" + ctx.host + "-" + std::to_string(ctx.rank) + "-" +
                        std::to_string(::getpid());
    std::string err = probeWritable(dir, probe);
    rd["writable"] = err.empty();
    if (!err.empty()) problems.push_back("run directory not writable: " + err);
    struct statvfs st {};
    if (err.empty() && ::statvfs(dir.c_str(), &st) == 0) {
      double free_bytes = static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize);
      rd["free_bytes"] = free_bytes;
      if (free_bytes < options.min_free_gb * kGiB) {
        warnings.push_back("only " + gib(free_bytes) + " free in " + dir.string() + " (below " +
                           gib(options.min_free_gb * kGiB) + ")");
      }
    }
    if (!shared_marker.empty()) {
      std::error_code ec;
      rd["shared"] = fs::exists(dir / shared_marker, ec);
    } else {
      rd["shared"] = nullptr;  // rank 0 could not leave its marker (its own problem says why)
    }
  }
  r["run_dir"] = rd;

  // Metrics port of this local rank.
  json port = {{"checked", options.port > 0}, {"bind", options.bind}};
  if (options.port > 0) {
    int p = options.port + ctx.local_rank;
    port["port"] = p;
    std::string err = probePort(options.bind, p);
    port["free"] = err.empty();
    if (!err.empty())
      problems.push_back("metrics port " + std::to_string(p) + " on " + options.bind + " " + err);
  }
  r["port"] = port;

  r["problems"] = problems;
  r["warnings"] = warnings;
  return r;
}

json summarise(const std::vector<json>& input) {
  std::vector<json> reports = input;
  std::sort(reports.begin(), reports.end(),
            [](const json& a, const json& b) { return a.value("rank", -1) < b.value("rank", -1); });
  json problems = json::array(), warnings = json::array();
  if (reports.empty()) {
    problems.push_back("no rank reported");
    return {{"problems", problems}, {"warnings", warnings}};
  }

  // Every rank of the world, once.
  const int world = reports.front().value("world_size", 0);
  std::vector<int> ranks;
  for (const json& r : reports) ranks.push_back(r.value("rank", -1));
  std::vector<int> expected(static_cast<size_t>(std::max(world, 0)));
  for (int i = 0; i < world; ++i) expected[static_cast<size_t>(i)] = i;
  if (ranks != expected) {
    problems.push_back("ranks " + joinInts(ranks) + " reported, expected 0.." +
                       std::to_string(world - 1) + " once each");
  }
  requireSame(
      reports, "the world size",
      [](const json& r) { return std::to_string(r.value("world_size", 0)); }, problems);
  requireSame(
      reports, "how the ranks were found",
      [](const json& r) { return r.value("source", std::string()); }, problems);
  requireSame(
      reports, "the communication backend",
      [](const json& r) { return r.value("backend", std::string()); }, problems);
  for (const char* v : {"torch", "mpi", "nccl"}) {
    requireSame(
        reports, std::string("the ") + v + " version",
        [v](const json& r) { return r["versions"].value(v, std::string()); }, problems);
  }

  // Per host: local ranks 0..n-1 with local size n, and one GPU per rank.
  std::map<std::string, std::vector<const json*>> hosts;
  for (const json& r : reports) hosts[r.value("host", std::string())].push_back(&r);
  for (const auto& [host, rs] : hosts) {
    const int n = static_cast<int>(rs.size());
    std::vector<int> locals, sizes;
    for (const json* r : rs) {
      locals.push_back(r->value("local_rank", -1));
      sizes.push_back(r->value("local_size", -1));
    }
    std::vector<int> sorted = locals;
    std::sort(sorted.begin(), sorted.end());
    bool ok = std::all_of(sizes.begin(), sizes.end(), [n](int s) { return s == n; });
    for (int i = 0; i < n && ok; ++i) ok = sorted[static_cast<size_t>(i)] == i;
    if (!ok) {
      problems.push_back(
          "host " + host + " runs " + std::to_string(n) + " rank(s) but they report local ranks " +
          joinInts(locals) + " and local sizes " + joinInts(sizes) +
          " (local ranks pick GPUs and metrics ports; local size divides the cores)");
    }
    std::map<std::string, std::vector<int>> by_gpu;
    for (const json* r : rs) {
      const json& g = (*r)["gpu"];
      if (g.value("chosen", -1) < 0) continue;
      std::string id = g.value("chosen_pci_bus_id", std::string());
      if (id.empty()) id = "device " + std::to_string(g.value("chosen", -1));
      by_gpu[id].push_back(r->value("rank", -1));
    }
    for (const auto& [id, on] : by_gpu) {
      if (on.size() > 1)
        problems.push_back("host " + host + ": ranks " + joinInts(on) + " would share GPU " + id);
    }
  }

  // The run directory: one directory every rank sees (checkpoints are written by rank 0 and read
  // back by every rank on resume).
  std::vector<int> unshared;
  for (const json& r : reports) {
    const json& rd = r["run_dir"];
    if (rd.contains("shared") && rd["shared"].is_boolean() && !rd["shared"].get<bool>()) {
      unshared.push_back(r.value("rank", -1));
    }
  }
  if (!unshared.empty()) {
    problems.push_back(
        "the run directory is not shared: rank(s) " + joinInts(unshared) +
        " do not see the file rank 0 wrote there; put it on storage every node mounts");
  }

  for (const json& r : reports) {
    for (const json& p : r["problems"]) problems.push_back(prefix(r) + ": " + p.get<std::string>());
    for (const json& w : r["warnings"]) warnings.push_back(prefix(r) + ": " + w.get<std::string>());
  }
  return {{"problems", problems}, {"warnings", warnings}};
}

std::string formatReports(const std::vector<json>& input, const json& verdict,
                          bool details_for_all) {
  std::vector<json> reports = input;
  std::sort(reports.begin(), reports.end(),
            [](const json& a, const json& b) { return a.value("rank", -1) < b.value("rank", -1); });
  std::ostringstream o;
  if (reports.empty()) return "";
  const json& first = reports.front();
  o << "l2face doctor: " << first.value("world_size", 0) << " rank(s); rank and world from "
    << first.value("source", std::string()) << ", local rank from "
    << first.value("local_source", std::string()) << "; backend "
    << first.value("backend", std::string()) << "\n";
  for (const json& r : reports) {
    const json& g = r["gpu"];
    const json& rd = r["run_dir"];
    const json& port = r["port"];
    o << "  rank " << r.value("rank", -1) << "  host " << r.value("host", std::string())
      << "  local " << r.value("local_rank", -1) << "/" << r.value("local_size", -1) << "  gpu ";
    if (g.value("chosen", -1) >= 0) {
      o << g.value("chosen", -1) << " of " << g["devices"].size();
    } else {
      o << "none";
    }
    o << "  threads " << r["threads"].value("per_rank", 0);
    if (port.value("checked", false)) {
      o << "  port " << port.value("port", 0) << (port.value("free", false) ? " free" : " BUSY");
    }
    if (rd.value("checked", false)) {
      o << "  run dir " << (rd.value("writable", false) ? "writable" : "NOT WRITABLE");
      if (rd.contains("shared") && rd["shared"].is_boolean()) {
        o << (rd["shared"].get<bool>() ? ", shared" : ", NOT SHARED");
      }
      if (rd.contains("free_bytes")) o << ", " << gib(rd["free_bytes"].get<double>()) << " free";
    }
    o << "  problems " << r["problems"].size() << "\n";
  }
  for (const json& r : reports) {
    if (!details_for_all && r.value("rank", -1) != 0 && r["problems"].empty()) continue;
    const json& v = r["versions"];
    const json& g = r["gpu"];
    o << "rank " << r.value("rank", -1) << " (" << r.value("host", std::string()) << ", pid "
      << r.value("pid", 0) << "):\n";
    o << "  versions: torch " << v.value("torch", std::string()) << " (CUDA "
      << (v.value("torch_cuda", std::string()).empty() ? "-" : v.value("torch_cuda", std::string()))
      << "), CUDA runtime "
      << (v.value("cuda_runtime", std::string()).empty() ? "-"
                                                         : v.value("cuda_runtime", std::string()))
      << ", driver "
      << (v.value("cuda_driver", std::string()).empty() ? "-"
                                                        : v.value("cuda_driver", std::string()))
      << ", NCCL "
      << (v.value("nccl", std::string()).empty() ? "-" : v.value("nccl", std::string())) << ", MPI "
      << (v.value("mpi", std::string()).empty() ? "-" : v.value("mpi", std::string())) << "\n";
    o << "  GPUs: " << g["devices"].size() << " visible to CUDA, " << g.value("torch_devices", 0)
      << " to torch; run.device auto = " << g.value("run_device_auto", std::string()) << "\n";
    for (const json& d : g["devices"]) {
      o << "    [" << d.value("index", 0) << "] " << d.value("name", std::string()) << ", "
        << gib(d.value("memory_bytes", 0.0)) << ", " << d.value("pci_bus_id", std::string())
        << "\n";
    }
    o << "  interfaces:";
    for (const json& i : r["interfaces"]) {
      o << " " << i.value("name", std::string()) << (i.value("up", false) ? "" : "(down)");
      for (const json& a : i["addresses"]) o << " " << a.get<std::string>();
      o << ";";
    }
    o << "\n  variables:";
    for (const auto& [k, val] : r["variables"].items())
      o << " " << k << "=" << val.get<std::string>();
    o << "\n";
    if (r["run_dir"].value("checked", false))
      o << "  run dir: " << r["run_dir"].value("path", std::string()) << "\n";
  }
  const json& problems = verdict["problems"];
  const json& warnings = verdict["warnings"];
  for (const json& w : warnings) o << "warning: " << w.get<std::string>() << "\n";
  for (const json& p : problems) o << "problem: " << p.get<std::string>() << "\n";
  if (problems.empty()) {
    o << "doctor: OK (" << reports.size() << " rank(s), " << warnings.size() << " warning(s))\n";
  } else {
    o << "doctor: " << problems.size() << " problem(s) found (exit " << kExitDoctorProblem << ")\n";
  }
  return o.str();
}

std::string createSharedMarker(const std::string& run_dir, const std::string& token) {
  if (run_dir.empty()) return "";
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  const std::string name = ".l2face-doctor-shared-" + token;
  int fd = ::open((fs::path(run_dir) / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return "";
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok ? name : "";
}

void removeSharedMarker(const std::string& run_dir, const std::string& name) {
  if (run_dir.empty() || name.empty()) return;
  std::error_code ec;
  fs::remove(fs::path(run_dir) / name, ec);
}

std::vector<std::string> missingDirectories(const std::string& run_dir) {
  std::vector<std::string> out;
  if (run_dir.empty()) return out;
  std::error_code ec;
  for (fs::path p = fs::absolute(run_dir, ec).lexically_normal(); !p.empty() && p != p.root_path();
       p = p.parent_path()) {
    if (fs::exists(p, ec)) break;
    out.push_back(p.string());
  }
  return out;
}

void removeEmptyDirectories(const std::vector<std::string>& deepest_first) {
  std::error_code ec;
  for (const std::string& d : deepest_first) {
    if (!fs::is_directory(d, ec) || !fs::is_empty(d, ec)) return;
    fs::remove(d, ec);
  }
}

}  // namespace l2face::launch
