// Tests of `l2face doctor`'s checks: one rank's report (run directory, port, geometry) and the
// agreement of all reports (missing ranks, local ranks per host, shared GPUs, unshared run
// directory, versions and backends that differ).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "l2face/launch/internal/doctor_checks.h"

using nlohmann::json;
using namespace l2face::launch;
namespace fs = std::filesystem;

namespace {

fs::path tempDir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("l2face_doctor_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

// A report as rankReport makes it, reduced to what summarise reads.
json report(int rank, int world, const std::string& host, int local_rank, int local_size) {
  return {{"rank", rank},
          {"world_size", world},
          {"host", host},
          {"local_rank", local_rank},
          {"local_size", local_size},
          {"source", "mpi"},
          {"backend", "mpi"},
          {"versions", {{"torch", "2.11.0"}, {"mpi", "Open MPI v4.1.4"}, {"nccl", ""}}},
          {"gpu", {{"chosen", -1}, {"chosen_pci_bus_id", ""}, {"devices", json::array()}}},
          {"run_dir", {{"checked", true}, {"writable", true}, {"shared", true}}},
          {"problems", json::array()},
          {"warnings", json::array()}};
}

bool mentions(const json& list, const std::string& text) {
  for (const json& p : list) {
    if (p.get<std::string>().find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST(DoctorSummary, TwoHostsWithConsistentGeometryHaveNoProblem) {
  json v = summarise({report(2, 4, "b", 0, 2), report(0, 4, "a", 0, 2), report(1, 4, "a", 1, 2),
                      report(3, 4, "b", 1, 2)});
  EXPECT_TRUE(v["problems"].empty()) << v.dump(1);
}

TEST(DoctorSummary, MissingOrDuplicateRanksAreProblems) {
  json v = summarise({report(0, 3, "a", 0, 2), report(1, 3, "a", 1, 2)});
  EXPECT_TRUE(mentions(v["problems"], "ranks 0,1 reported, expected 0..2")) << v.dump(1);
  v = summarise({report(0, 2, "a", 0, 2), report(0, 2, "a", 1, 2)});
  EXPECT_FALSE(v["problems"].empty());
}

TEST(DoctorSummary, LocalRanksMustMatchTheRanksOfEachHost) {
  // Two hosts, but every rank believes all four share one host (a launcher without local
  // variables): each host's local sizes say 4 while it runs 2.
  json v = summarise({report(0, 4, "a", 0, 4), report(1, 4, "a", 1, 4), report(2, 4, "b", 2, 4),
                      report(3, 4, "b", 3, 4)});
  EXPECT_TRUE(mentions(v["problems"],
                       "host a runs 2 rank(s) but they report local ranks 0,1 and local sizes 4,4"))
      << v.dump(1);
  EXPECT_TRUE(mentions(v["problems"], "host b runs 2 rank(s)")) << v.dump(1);
}

TEST(DoctorSummary, RanksOnOneGpuAreAProblem) {
  json a = report(0, 2, "a", 0, 2), b = report(1, 2, "a", 1, 2);
  a["gpu"]["chosen"] = 0;
  a["gpu"]["chosen_pci_bus_id"] = "0000:3b:00.0";
  b["gpu"]["chosen"] = 0;  // e.g. both see only one device (CUDA_VISIBLE_DEVICES) and L2FACE_GPU=0
  b["gpu"]["chosen_pci_bus_id"] = "0000:3b:00.0";
  EXPECT_TRUE(mentions(summarise({a, b})["problems"], "ranks 0,1 would share GPU 0000:3b:00.0"));
  // Same index, different devices: fine.
  b["gpu"]["chosen_pci_bus_id"] = "0000:5e:00.0";
  EXPECT_TRUE(summarise({a, b})["problems"].empty());
}

TEST(DoctorSummary, DisagreementsAndUnsharedRunDirectoriesAreProblems) {
  json a = report(0, 2, "a", 0, 1), b = report(1, 2, "b", 0, 1);
  b["versions"]["torch"] = "2.10.0";
  b["backend"] = "nccl";
  b["run_dir"]["shared"] = false;
  json p = summarise({a, b})["problems"];
  EXPECT_TRUE(
      mentions(p, "ranks disagree on the torch version: '2.10.0' on rank 1; '2.11.0' on rank 0"))
      << p.dump(1);
  EXPECT_TRUE(mentions(p, "ranks disagree on the communication backend")) << p.dump(1);
  EXPECT_TRUE(mentions(p, "the run directory is not shared: rank(s) 1")) << p.dump(1);
}

TEST(DoctorSummary, EachRanksOwnProblemsAndWarningsArePrefixed) {
  json a = report(0, 1, "a", 0, 1);
  a["problems"].push_back("metrics port 9400 on 127.0.0.1 is in use by another process");
  a["warnings"].push_back("only 1.0 GiB free");
  json v = summarise({a});
  EXPECT_EQ(
      v["problems"],
      json::array({"rank 0 (a): metrics port 9400 on 127.0.0.1 is in use by another process"}));
  EXPECT_EQ(v["warnings"], json::array({"rank 0 (a): only 1.0 GiB free"}));
}

TEST(DoctorReport, WritableRunDirectoryAndFreePortPass) {
  fs::path dir = tempDir("ok");
  DoctorOptions opt;
  opt.run_dir = dir.string();
  opt.port = 0;
  l2face::comm::RunContext ctx;
  ctx.host = "h";
  std::string marker = createSharedMarker(opt.run_dir, "tok");
  ASSERT_FALSE(marker.empty());
  json r = rankReport(opt, ctx, marker);
  EXPECT_TRUE(r["problems"].empty()) << r.dump(1);
  EXPECT_TRUE(r["run_dir"]["writable"].get<bool>());
  EXPECT_TRUE(r["run_dir"]["shared"].get<bool>());
  EXPECT_GT(r["run_dir"]["free_bytes"].get<double>(), 0);
  EXPECT_EQ(r["backend"], "local");
  removeSharedMarker(opt.run_dir, marker);
  EXPECT_TRUE(fs::is_empty(dir));  // the probe file is gone too
  fs::remove_all(dir);
}

TEST(DoctorReport, UnwritableRunDirectoryIsAProblem) {
  fs::path dir = tempDir("blocked");
  fs::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  DoctorOptions opt;
  opt.run_dir = (dir / "file" / "run").string();  // a file where a directory should be
  opt.port = 0;
  l2face::comm::RunContext ctx;
  json r = rankReport(opt, ctx, "");
  EXPECT_FALSE(r["run_dir"]["writable"].get<bool>());
  EXPECT_TRUE(mentions(r["problems"], "run directory not writable")) << r.dump(1);
  EXPECT_TRUE(r["run_dir"]["shared"].is_null());
  fs::remove_all(dir);
}

TEST(DoctorReport, BusyPortOfThisLocalRankIsAProblemAndTheFreeSpaceThresholdWarns) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int busy = ntohs(a.sin_port);
  fs::path dir = tempDir("port");
  DoctorOptions opt;
  opt.run_dir = dir.string();
  opt.port = busy - 1;    // local rank 1 serves on port + 1: the busy one
  opt.min_free_gb = 1e9;  // more than any disk: a warning, not a problem
  l2face::comm::RunContext ctx;
  ctx.rank = 1;
  ctx.world_size = 2;
  ctx.local_rank = 1;
  ctx.local_size = 2;
  json r = rankReport(opt, ctx, "");
  EXPECT_EQ(r["port"]["port"], busy);
  EXPECT_FALSE(r["port"]["free"].get<bool>());
  EXPECT_TRUE(
      mentions(r["problems"], "metrics port " + std::to_string(busy) + " on 127.0.0.1 is in use"))
      << r.dump(1);
  EXPECT_TRUE(mentions(r["warnings"], "free in")) << r.dump(1);
  ::close(fd);
  opt.bind = "203.0.113.7";  // TEST-NET-3: not an address of this host
  r = rankReport(opt, ctx, "");
  EXPECT_TRUE(mentions(r["problems"], "not an address of this host")) << r.dump(1);
  fs::remove_all(dir);
}

TEST(DoctorReport, DirectoriesTheChecksCreateAreRemovedWhenEmpty) {
  fs::path top = tempDir("created");
  fs::path run = top / "a" / "b";
  std::vector<std::string> created = missingDirectories(run.string());
  ASSERT_EQ(created, (std::vector<std::string>{run.string(), (top / "a").string(), top.string()}));
  DoctorOptions opt;
  opt.run_dir = run.string();
  opt.port = 0;
  l2face::comm::RunContext ctx;
  EXPECT_TRUE(rankReport(opt, ctx, "")["run_dir"]["writable"].get<bool>());
  ASSERT_TRUE(fs::is_directory(run));
  std::ofstream(top / "keep") << "x";  // someone else's file: that directory stays
  removeEmptyDirectories(created);
  EXPECT_FALSE(fs::exists(top / "a"));
  EXPECT_TRUE(fs::exists(top / "keep"));
  EXPECT_TRUE(missingDirectories(top.string()).empty());
  fs::remove_all(top);
}
