// One configuration of the sharded classifier, timed and measured on every rank: memory before
// the classifier exists (the runtime's own footprint), peak memory after a few steps, the bytes
// classifierMemory() predicts, and the median step time (forward, distributed softmax, backward,
// optimizer step). On the CPU the memory is the resident set (VmRSS, VmHWM); with --device cuda
// it is the bytes torch's CUDA allocator hands to tensors (current, peak). Rank 0 prints one JSON
// object with every rank's figures.
//
//   mpirun -np 2 classifier_bench --classes 1000000 [--dim 512] [--batch 64] [--sample-rate 1]
//                                 [--head l2_softmax] [--steps 4] [--threads 1] [--device cpu]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cuda_memory.h"
#include "l2face/comm/mpi_session.h"
#include "l2face/trainer/internal/sharded_classifier.h"

using namespace l2face;
using namespace l2face::trainer;

namespace {

// VmRSS or VmHWM (peak) of this process in bytes, from /proc/self/status.
int64_t procStatusBytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

struct Args {
  int64_t classes = 100000, batch = 64;
  int dim = 512, steps = 4, threads = 1;
  double sample_rate = 1.0;
  std::string head_type = "l2_softmax", device = "cpu";
};

// False (after a message) on an unknown argument.
bool parseArgs(int argc, char** argv, Args& a) {
  using Setter = std::function<void(const std::string&)>;
  const std::map<std::string, Setter> setters = {
      {"--classes", [&](const std::string& v) { a.classes = std::stoll(v); }},
      {"--dim", [&](const std::string& v) { a.dim = std::stoi(v); }},
      {"--batch", [&](const std::string& v) { a.batch = std::stoll(v); }},
      {"--sample-rate", [&](const std::string& v) { a.sample_rate = std::stod(v); }},
      {"--head", [&](const std::string& v) { a.head_type = v; }},
      {"--steps", [&](const std::string& v) { a.steps = std::stoi(v); }},
      {"--threads", [&](const std::string& v) { a.threads = std::stoi(v); }},
      {"--device", [&](const std::string& v) { a.device = v; }}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const auto it = setters.find(argv[i]);
    if (it == setters.end()) {
      std::cerr << "unknown argument " << argv[i] << "\n";
      return false;
    }
    it->second(argv[i + 1]);
  }
  return true;
}

// This process's memory now (baseline) or at its peak: resident bytes, or on CUDA the bytes
// allocated to tensors.
int64_t memoryBytes(const torch::Device& device, bool peak) {
  if (device.is_cuda()) {
    const bench::CudaBytes b = bench::cudaAllocated(device.index());
    return peak ? b.peak : b.current;
  }
  return procStatusBytes(peak ? "VmHWM" : "VmRSS");
}

// The median of the step times after the first (step 0 pays first-touch page faults).
double steadyMedian(const std::vector<double>& times) {
  std::vector<double> steady(times.begin() + (times.size() > 1 ? 1 : 0), times.end());
  std::nth_element(steady.begin(), steady.begin() + steady.size() / 2, steady.end());
  return steady[steady.size() / 2];
}

// Rank 0's JSON object: the configuration, the memory model's parts and every rank's figures
// (`all`: baseline, peak, predicted bytes and median step seconds per rank).
nlohmann::json report(const Args& a, const torch::Device& device, int world, double loss,
                      const ClassifierMemory& theory, const std::vector<double>& all) {
  const std::string kind = device.is_cuda() ? "cuda_allocated" : "rss";
  nlohmann::json j = {{"classes", a.classes},
                      {"dim", a.dim},
                      {"batch_per_rank", a.batch},
                      {"ranks", world},
                      {"sample_rate", a.sample_rate},
                      {"head", a.head_type},
                      {"steps", a.steps},
                      {"threads", a.threads},
                      {"device", device.str()},
                      {"memory", kind},
                      {"loss", loss},
                      {"sampled_rows", theory.sampled_rows},
                      {"theory_breakdown",
                       {{"weights", theory.weight_bytes},
                        {"gradient", theory.gradient_bytes},
                        {"optimizer", theory.optimizer_bytes},
                        {"logits", theory.logits_bytes},
                        {"activations", theory.activation_bytes}}}};
  for (int r = 0; r < world; ++r) {
    const double* v = &all[4 * static_cast<size_t>(r)];
    j["per_rank"].push_back({{"rank", r},
                             {"baseline_" + kind + "_bytes", v[0]},
                             {"peak_" + kind + "_bytes", v[1]},
                             {"theory_bytes", v[2]},
                             {"peak_over_theory", (v[1] - v[0]) / v[2]},
                             {"step_seconds_median", v[3]}});
  }
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  comm::MpiSession mpi(&argc, &argv);
  Args a;
  if (!parseArgs(argc, argv, a)) return 2;
  torch::set_num_threads(a.threads);
  auto comm = comm::makeCommunicator(comm::CommOptions{}, comm::runContextFromEnvironment());
  const int rank = comm->rank(), world = comm->size();
  HeadOptions head;
  if (auto type = enumFromName<HeadType>(a.head_type)) {
    head.type = *type;
  } else {
    std::cerr << "unknown --head " << a.head_type << " (" << enumChoices<HeadType>() << ")\n";
    return 2;
  }
  const torch::Device device(a.device == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::kCPU);
  OptimOptions optim;
  ClassifierOptions cls;
  cls.parallel = ClassifierPlacement::kSharded;
  cls.sample_rate = a.sample_rate;
  torch::Tensor features =
      torch::nn::functional::normalize(torch::randn({a.batch, a.dim}),
                                       torch::nn::functional::NormalizeFuncOptions().dim(1)) *
      30;
  torch::Tensor labels = torch::randint(0, a.classes, {a.batch}, torch::kLong);
  features = features.to(device);
  labels = labels.to(device);
  comm->barrier();
  if (device.is_cuda()) bench::resetCudaPeak(device.index());
  const int64_t baseline = memoryBytes(device, /*peak=*/false);

  ShardedClassifier sc(head, optim, cls, a.classes, a.dim, 1, *comm, device);
  std::vector<double> times;
  double loss = 0;
  for (int s = 0; s < a.steps; ++s) {
    comm->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    sc.zeroGrad();
    auto out = sc.forwardBackward(features, labels, 1.0, s);
    sc.step(0.1, torch::Tensor());
    loss = out.global_loss.item<double>();
    comm->barrier();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const int64_t peak = memoryBytes(device, /*peak=*/true);
  const ClassifierMemory theory =
      classifierMemory(head, optim, cls, a.classes, a.dim, world, rank, a.batch * world);

  double mine[4] = {static_cast<double>(baseline), static_cast<double>(peak),
                    static_cast<double>(theory.total()), steadyMedian(times)};
  std::vector<double> all(4 * static_cast<size_t>(world));
  comm->allGather(mine, all.data(), 4, comm::DType::kFloat64);
  if (rank == 0) std::cout << report(a, device, world, loss, theory, all).dump() << std::endl;
  return 0;
}
