// Tests of RunMonitor: per-rank port, address and Prometheus target files, cleanup.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "l2face/monitoring/run_monitor.h"

namespace fs = std::filesystem;
using namespace l2face::monitoring;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST(RunMonitor, WritesAddressAndTargetFilesAndServes) {
  fs::path run = fs::temp_directory_path() / ("l2face_rm_" + std::to_string(::getpid())) / "exp_a";
  fs::remove_all(run.parent_path());
  MonitoringOptions o;
  o.port = 0;
  RankIdentity id{"", 2, 0, "node7", run.string()};
  fs::path target;
  {
    RunMonitor m(o, id);
    ASSERT_GT(m.port(), 0);
    m.metrics().steps.Increment(3);
    EXPECT_EQ(slurp(run / "metrics" / "rank2.addr"), m.address() + "\n");
    target = run / "metrics" / "exp_a_rank2.json";
    EXPECT_EQ(slurp(target), "[{\"targets\": [\"127.0.0.1:" + std::to_string(m.port()) +
                                 "\"], \"labels\": {\"l2face_job\": \"exp_a\"}}]\n");
    EXPECT_NE(m.registry()->Serialize().find("l2face_steps_total{host=\"node7\",job=\"exp_a\",rank=\"2\"} 3"),
              std::string::npos);
  }
  EXPECT_FALSE(fs::exists(target));  // a finished rank is no longer a target
  o.serve = false;
  RunMonitor quiet(o, id);
  EXPECT_EQ(quiet.port(), -1);
  EXPECT_EQ(quiet.address(), "");
}
