// cluster/k8s/mpijob.yaml: parses as an MPIJob v2beta1 with the fields a run needs, and its rank
// count, GPUs, metrics ports, image and command agree with each other, with the configuration the
// command names (monitoring.port) and with docs/operations.md. cluster/k8s/mpijob-elastic.yaml: the
// same workers, and a launcher that runs launch/l2face-elastic over the operator's hostfile with the
// run directory on the workers' shared volume.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "l2face/launch/internal/config.h"

namespace {

const std::string kSource = L2FACE_SOURCE_DIR;

std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A manifest: its launcher and worker specs and the launcher's command.
class Manifest : public ::testing::Test {
 protected:
  void load(const std::string& name) {
    job_ = YAML::LoadFile(kSource + "/cluster/k8s/" + name);
    ASSERT_TRUE(job_["spec"]["mpiReplicaSpecs"]);
    launcher_ = job_["spec"]["mpiReplicaSpecs"]["Launcher"];
    worker_ = job_["spec"]["mpiReplicaSpecs"]["Worker"];
    ASSERT_TRUE(launcher_ && worker_);
    for (const YAML::Node& a : launcher_["template"]["spec"]["containers"][0]["command"]) {
      command_.push_back(a.as<std::string>());
    }
    ASSERT_FALSE(command_.empty());
  }
  // The argument after `flag` in the launcher's command ("" when absent).
  std::string argAfter(const std::string& flag, size_t from = 0) const {
    for (size_t i = from; i + 1 < command_.size(); ++i) {
      if (command_[i] == flag) return command_[i + 1];
    }
    return "";
  }
  size_t indexOf(const std::string& word) const {
    for (size_t i = 0; i < command_.size(); ++i) {
      if (command_[i] == word) return i;
    }
    return command_.size();
  }
  // The repository's configuration the command names (same file name under configs/), with the
  // --set overrides after `train` and then `more`.
  l2face::launch::Config commandConfig(std::vector<std::string> more = {}) const {
    std::string config = argAfter("--config");
    std::string name = config.substr(config.rfind('/') + 1);
    std::vector<std::string> sets;
    for (size_t i = indexOf("train"); i + 1 < command_.size(); ++i) {
      if (command_[i] == "--set") sets.push_back(command_[i + 1]);
    }
    sets.insert(sets.end(), more.begin(), more.end());
    return l2face::launch::loadConfig(kSource + "/configs/" + name, sets);
  }
  YAML::Node workerContainer() const { return worker_["template"]["spec"]["containers"][0]; }
  // Where the pod spec `spec` mounts its persistentVolumeClaim ("" when it has none); the claim's
  // name goes to `claim`.
  static std::string claimMount(const YAML::Node& spec, std::string* claim = nullptr) {
    std::string volume;
    for (const YAML::Node& v : spec["volumes"]) {
      if (v["persistentVolumeClaim"]) {
        volume = v["name"].as<std::string>();
        if (claim) *claim = v["persistentVolumeClaim"]["claimName"].as<std::string>();
      }
    }
    for (const YAML::Node& m : spec["containers"][0]["volumeMounts"]) {
      if (!volume.empty() && m["name"].as<std::string>() == volume) {
        return m["mountPath"].as<std::string>();
      }
    }
    return "";
  }

  YAML::Node job_, launcher_, worker_;
  std::vector<std::string> command_;
};

class MpiJob : public Manifest {
 protected:
  void SetUp() override { load("mpijob.yaml"); }
};

TEST_F(MpiJob, IsAKubeflowMpiJobV2WithRunPolicy) {
  EXPECT_EQ(job_["apiVersion"].as<std::string>(), "kubeflow.org/v2beta1");
  EXPECT_EQ(job_["kind"].as<std::string>(), "MPIJob");
  EXPECT_FALSE(job_["metadata"]["name"].as<std::string>().empty());
  const YAML::Node run = job_["spec"]["runPolicy"];
  EXPECT_TRUE(std::set<std::string>({"Running", "All", "None"})
                  .count(run["cleanPodPolicy"].as<std::string>()));
  EXPECT_GE(run["backoffLimit"].as<int>(), 1);
  EXPECT_EQ(launcher_["replicas"].as<int>(), 1);
  EXPECT_GE(worker_["replicas"].as<int>(), 1);
  // A preempted run (exit 75) or a failed one must start again to resume.
  EXPECT_EQ(launcher_["restartPolicy"].as<std::string>(), "OnFailure");
  EXPECT_TRUE(worker_["restartPolicy"]);
}

TEST_F(MpiJob, RanksGpusAndSlotsAgree) {
  const int slots = job_["spec"]["slotsPerWorker"].as<int>();
  const int workers = worker_["replicas"].as<int>();
  EXPECT_EQ(command_.front(), "mpirun");
  EXPECT_EQ(std::stoi(argAfter("-np")), slots * workers);
  EXPECT_EQ(workerContainer()["resources"]["limits"]["nvidia.com/gpu"].as<int>(), slots);
}

TEST_F(MpiJob, TrainsWithResumeAutoFromTheSharedVolume) {
  size_t l2face = indexOf("l2face");
  ASSERT_LT(l2face + 1, command_.size());
  EXPECT_EQ(command_[l2face + 1], "train");
  EXPECT_EQ(argAfter("--resume", l2face), "auto");
  EXPECT_EQ(argAfter("--bind-to"), "none");  // the trainer's threads use the pod's cores
  // The shared claim is mounted in the workers; data and run directory live on it.
  const std::string mount = claimMount(worker_["template"]["spec"]);
  ASSERT_FALSE(mount.empty());
  l2face::launch::Config cfg = commandConfig();
  EXPECT_EQ(cfg.run.dir.rfind(mount + "/", 0), 0u) << cfg.run.dir;
  EXPECT_EQ(cfg.data.train.rfind(mount + "/", 0), 0u) << cfg.data.train;
  // Preemption: the ranks get USR1 before the pod is killed, and time to save.
  std::string pre_stop;
  for (const YAML::Node& a : workerContainer()["lifecycle"]["preStop"]["exec"]["command"]) {
    pre_stop += a.as<std::string>() + " ";
  }
  EXPECT_NE(pre_stop.find("-USR1"), std::string::npos) << pre_stop;
  EXPECT_GE(worker_["template"]["spec"]["terminationGracePeriodSeconds"].as<int>(), 60);
}

TEST_F(MpiJob, MetricsPortsFollowMonitoringPort) {
  l2face::launch::Config cfg = commandConfig();
  const int slots = job_["spec"]["slotsPerWorker"].as<int>();
  const int port = cfg.monitoring.port;
  ASSERT_GT(port, 0);
  EXPECT_NE(cfg.monitoring.bind, "127.0.0.1") << "pods must serve metrics beyond loopback";
  const YAML::Node ann = worker_["template"]["metadata"]["annotations"];
  EXPECT_EQ(ann["prometheus.io/scrape"].as<std::string>(), "true");
  EXPECT_EQ(ann["prometheus.io/port"].as<std::string>(), std::to_string(port));
  // Local rank r serves on port + r: one named container port per slot (metrics-N), the ports a
  // pod-role Kubernetes scrape job keeps (docs/operations.md).
  std::set<int> ports;
  for (const YAML::Node& p : workerContainer()["ports"]) {
    int n = p["containerPort"].as<int>();
    EXPECT_EQ(p["name"].as<std::string>(), "metrics-" + std::to_string(n - port));
    ports.insert(n);
  }
  std::set<int> expected;
  for (int r = 0; r < slots; ++r) expected.insert(port + r);
  EXPECT_EQ(ports, expected);
  const std::string ops = readText(kSource + "/docs/operations.md");
  EXPECT_NE(ops.find("metrics-[0-9]+"), std::string::npos);
}

TEST_F(MpiJob, ImageAndCommandAgreeWithTheDocs) {
  const std::string image =
      launcher_["template"]["spec"]["containers"][0]["image"].as<std::string>();
  EXPECT_EQ(workerContainer()["image"].as<std::string>(), image);
  // The image is tagged with the project version.
  std::smatch m;
  const std::string cmake = readText(kSource + "/CMakeLists.txt");
  ASSERT_TRUE(std::regex_search(cmake, m, std::regex(R"(project\(l2face VERSION ([0-9.]+))")));
  EXPECT_EQ(image, "l2face:" + m[1].str());
  const std::string ops = readText(kSource + "/docs/operations.md");
  EXPECT_NE(ops.find(image), std::string::npos) << "docs/operations.md does not name " << image;
  std::string train;
  for (size_t i = indexOf("l2face"); i < command_.size() && command_[i] != "--set"; ++i) {
    train += (train.empty() ? "" : " ") + command_[i];
  }
  EXPECT_EQ(train, "l2face train --config /opt/l2face/configs/cluster.yaml --resume auto");
  EXPECT_NE(ops.find(train), std::string::npos) << "docs/operations.md does not show: " << train;
  EXPECT_NE(ops.find("cluster/k8s/mpijob.yaml"), std::string::npos);
}

class ElasticMpiJob : public Manifest {
 protected:
  void SetUp() override {
    load("mpijob-elastic.yaml");
    plain_ = YAML::LoadFile(kSource + "/cluster/k8s/mpijob.yaml");
  }
  // The supervisor's arguments: the command up to "--".
  size_t endOfOptions() const { return indexOf("--"); }
  YAML::Node plain_;
};

TEST_F(ElasticMpiJob, HasTheWorkersAndImageOfTheMpiJob) {
  EXPECT_EQ(job_["apiVersion"].as<std::string>(), "kubeflow.org/v2beta1");
  EXPECT_EQ(job_["kind"].as<std::string>(), "MPIJob");
  EXPECT_NE(job_["metadata"]["name"].as<std::string>(),
            plain_["metadata"]["name"].as<std::string>());
  EXPECT_EQ(job_["spec"]["slotsPerWorker"].as<int>(), plain_["spec"]["slotsPerWorker"].as<int>());
  EXPECT_EQ(YAML::Dump(worker_), YAML::Dump(plain_["spec"]["mpiReplicaSpecs"]["Worker"]))
      << "the Worker spec of mpijob-elastic.yaml differs from mpijob.yaml's";
  EXPECT_EQ(launcher_["template"]["spec"]["containers"][0]["image"].as<std::string>(),
            workerContainer()["image"].as<std::string>());
  // A preempted run (75) and a supervisor that gave up (69, 70) start a new supervisor: OnFailure.
  EXPECT_EQ(launcher_["restartPolicy"].as<std::string>(), "OnFailure");
  EXPECT_GE(job_["spec"]["runPolicy"]["backoffLimit"].as<int>(), 1);
}

TEST_F(ElasticMpiJob, LauncherRunsTheSupervisorOverTheWorkers) {
  const size_t dashes = endOfOptions();
  ASSERT_LT(dashes + 1, command_.size());
  const std::string supervisor = "/l2face-elastic";
  ASSERT_GE(command_.front().size(), supervisor.size());
  EXPECT_EQ(command_.front().substr(command_.front().size() - supervisor.size()), supervisor);
  EXPECT_EQ(argAfter("--hostfile"), "/etc/mpi/hostfile");  // the operator's list of workers
  EXPECT_EQ(std::stoi(argAfter("--ranks-per-node")), job_["spec"]["slotsPerWorker"].as<int>());
  const std::string launcher = argAfter("--launcher");
  EXPECT_TRUE(launcher.empty() || launcher == "mpirun") << launcher;
  const std::string min_hosts = argAfter("--min-hosts");
  if (!min_hosts.empty()) EXPECT_LE(std::stoi(min_hosts), worker_["replicas"].as<int>());
  // After "--": the training command; the supervisor adds --resume auto --keep-global-batch and
  // run.dir itself (and refuses them in the command).
  EXPECT_EQ(command_[dashes + 1], "train");
  EXPECT_EQ(argAfter("--config", dashes), "/opt/l2face/configs/cluster.yaml");
  for (size_t i = dashes; i < command_.size(); ++i) {
    EXPECT_NE(command_[i].rfind("--resume", 0), 0u) << command_[i];
    EXPECT_NE(command_[i], "--keep-global-batch");
    EXPECT_NE(command_[i].rfind("run.dir=", 0), 0u) << command_[i];
  }
  // The run directory (--run-dir) and the data are on the shared claim, which the launcher mounts
  // too, at the workers' path: the supervisor reads checkpoints/LATEST and writes elastic.jsonl.
  std::string worker_claim, launcher_claim;
  const std::string mount = claimMount(worker_["template"]["spec"], &worker_claim);
  ASSERT_FALSE(mount.empty());
  EXPECT_EQ(claimMount(launcher_["template"]["spec"], &launcher_claim), mount);
  EXPECT_EQ(launcher_claim, worker_claim);
  const std::string run_dir = argAfter("--run-dir");
  l2face::launch::Config cfg = commandConfig({"run.dir=" + run_dir});
  EXPECT_EQ(cfg.run.dir.rfind(mount + "/", 0), 0u) << cfg.run.dir;
  EXPECT_EQ(cfg.data.train.rfind(mount + "/", 0), 0u) << cfg.data.train;
  // The docs name the manifest and show its supervisor command.
  const std::string ops = readText(kSource + "/docs/operations.md");
  EXPECT_NE(ops.find("cluster/k8s/mpijob-elastic.yaml"), std::string::npos);
  std::string shown;
  for (size_t i = 0; i < 3 && i < command_.size(); ++i) shown += (i ? " " : "") + command_[i];
  EXPECT_NE(ops.find(shown.substr(shown.find("l2face-elastic"))), std::string::npos)
      << "docs/operations.md does not show: " << shown;
}

}  // namespace
