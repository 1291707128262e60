// One configuration of the sharded classifier, timed and measured on every rank: resident memory
// before the classifier exists (the runtime's own footprint), peak resident memory after a few
// steps, the bytes classifierMemory() predicts, and the median step time (forward, distributed
// softmax, backward, optimizer step). Rank 0 prints one JSON object with every rank's figures.
//
//   mpirun -np 2 classifier_bench --classes 1000000 [--dim 512] [--batch 64] [--sample-rate 1]
//                                 [--head l2_softmax] [--steps 4] [--threads 1]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

}  // namespace

int main(int argc, char** argv) {
  comm::MpiSession mpi(&argc, &argv);
  int64_t classes = 100000, batch = 64;
  int dim = 512, steps = 4, threads = 1;
  double sample_rate = 1.0;
  std::string head_type = "l2_softmax";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--classes")
      classes = std::stoll(v);
    else if (a == "--dim")
      dim = std::stoi(v);
    else if (a == "--batch")
      batch = std::stoll(v);
    else if (a == "--sample-rate")
      sample_rate = std::stod(v);
    else if (a == "--head")
      head_type = v;
    else if (a == "--steps")
      steps = std::stoi(v);
    else if (a == "--threads")
      threads = std::stoi(v);
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  torch::set_num_threads(threads);
  auto comm = comm::makeCommunicator(comm::CommOptions{}, comm::runContextFromEnvironment());
  const int rank = comm->rank(), world = comm->size();
  HeadOptions head;
  if (auto type = enumFromName<HeadType>(head_type)) {
    head.type = *type;
  } else {
    std::cerr << "unknown --head " << head_type << " (" << enumChoices<HeadType>() << ")\n";
    return 2;
  }
  OptimOptions optim;
  ClassifierOptions cls;
  cls.parallel = ClassifierPlacement::kSharded;
  cls.sample_rate = sample_rate;
  torch::Tensor features =
      torch::nn::functional::normalize(torch::randn({batch, dim}),
                                       torch::nn::functional::NormalizeFuncOptions().dim(1)) *
      30;
  torch::Tensor labels = torch::randint(0, classes, {batch}, torch::kLong);
  comm->barrier();
  const int64_t baseline = procStatusBytes("VmRSS");

  ShardedClassifier sc(head, optim, cls, classes, dim, 1, *comm, torch::kCPU);
  std::vector<double> times;
  double loss = 0;
  for (int s = 0; s < steps; ++s) {
    comm->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    sc.zeroGrad();
    auto out = sc.forwardBackward(features, labels, 1.0, s);
    sc.step(0.1, torch::Tensor());
    loss = out.global_loss.item<double>();
    comm->barrier();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const int64_t peak = procStatusBytes("VmHWM");
  const ClassifierMemory theory =
      classifierMemory(head, optim, cls, classes, dim, world, rank, batch * world);
  // Step 0 pays first-touch page faults; the median of the rest is the steady state.
  std::vector<double> steady(times.begin() + (times.size() > 1 ? 1 : 0), times.end());
  std::nth_element(steady.begin(), steady.begin() + steady.size() / 2, steady.end());
  const double median = steady[steady.size() / 2];

  double mine[4] = {static_cast<double>(baseline), static_cast<double>(peak),
                    static_cast<double>(theory.total()), median};
  std::vector<double> all(4 * static_cast<size_t>(world));
  comm->allGather(mine, all.data(), 4, comm::DType::kFloat64);
  if (rank == 0) {
    nlohmann::json j = {{"classes", classes},
                        {"dim", dim},
                        {"batch_per_rank", batch},
                        {"ranks", world},
                        {"sample_rate", sample_rate},
                        {"head", head_type},
                        {"steps", steps},
                        {"threads", threads},
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
                               {"baseline_rss_bytes", v[0]},
                               {"peak_rss_bytes", v[1]},
                               {"theory_bytes", v[2]},
                               {"peak_over_theory", (v[1] - v[0]) / v[2]},
                               {"step_seconds_median", v[3]}});
    }
    std::cout << j.dump() << std::endl;
  }
  return 0;
}
