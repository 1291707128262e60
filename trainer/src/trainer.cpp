// The training loop: loader -> backbone -> head -> cross-entropy -> multi-tensor SGD, checkpoints.
#include "l2face/trainer/trainer.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "backbone.h"
#include "head.h"
#include "input.h"
#include "l2face/checkpoint/store.h"
#include "l2face/data/dataset.h"
#include "l2face/data/loader.h"
#include "l2face/data/sampler.h"
#include "l2face/monitoring/progress.h"
#include "l2face/trainer/alpha.h"
#include "model_state.h"
#include "optimizer.h"
#include "periodic_eval.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Model {
  std::shared_ptr<BackboneImpl> backbone;
  Head head{nullptr};
};

void saveCheckpoint(const TrainerOptions& opt, const comm::RunContext& ctx, Model& m,
                    ForeachSgd& sgd, const ModelGeometry& geo, int64_t step,
                    const data::Cursor& cursor, TrainSummary& summary) {
  if (!ctx.isLeader()) return;  // replicated state is written once
  checkpoint::CheckpointWriter w(opt.run.dir, step, ctx.world_size);
  saveModule(*m.backbone, w.path("backbone.pt"));
  saveModule(*m.head, w.path("head.pt"));
  saveTensors(sgd.momentumBuffers(), w.path("optimizer.pt"));
  nlohmann::json meta = geometryJson(geo);
  meta["cursor"] = {{"epoch", cursor.epoch}, {"step", cursor.step}};
  meta["config_digest"] = opt.config_digest;
  meta["alpha"] = m.head->alpha();
  summary.checkpoint = w.commit(meta, opt.checkpoint.keep_last).string();
}

}  // namespace

TrainSummary train(const TrainerOptions& opt, comm::Communicator& comm,
                   const comm::RunContext& ctx) {
  const int world = comm.size();
  if (opt.data.train.empty()) throw TrainError("data.train is empty: name an ImageFolder root");
  if (opt.optim.max_steps < 1) throw TrainError("optim.max_steps must be >= 1");
  int threads = opt.run.threads;
  if (threads <= 0) {
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                              std::max(1, ctx.local_size));
  }
  torch::set_num_threads(threads);
  torch::manual_seed(opt.run.seed);
  const torch::Device device = resolveDevice(opt.run.device);

  auto dataset = std::make_shared<data::ImageFolderDataset>(opt.data.train);
  const int64_t num_classes = dataset->numClasses();
  if (ctx.isLeader()) {
    fs::create_directories(opt.run.dir);
    dataset->writeClassMap((fs::path(opt.run.dir) / "classes.tsv").string());
  }
  const int64_t global_batch = int64_t{opt.data.batch_size} * world;
  data::Sampler sampler(dataset->size(), global_batch, opt.run.seed, ctx.rank, world);
  data::Loader loader(dataset, sampler, opt.data, opt.run.seed, data::Cursor{0, 0}, /*train=*/true);

  ModelGeometry geo{opt.model, opt.head, opt.data.image_size, num_classes};
  Model m;
  m.backbone = makeBackbone(opt.model, opt.data.image_size);
  m.head = Head(opt.head, opt.model.embedding_dim, num_classes);
  m.backbone->to(device);
  m.head->to(device);
  m.backbone->train();
  m.head->train();

  TrainSummary summary;
  summary.world_size = world;
  summary.num_classes = num_classes;
  summary.num_images = static_cast<int64_t>(dataset->size());
  summary.alpha = m.head->alpha();
  summary.parameters = parameterCount(*m.backbone);
  summary.device = device.str();
  if (opt.head.type == "l2_softmax" && num_classes > 2) {
    summary.alpha_low = alphaLowerBound(num_classes, opt.head.p);
    if (ctx.isLeader()) {
      std::cerr << "[l2face] alpha = " << summary.alpha << " (lower bound alpha_low = "
                << summary.alpha_low << " for C = " << num_classes << ", p = " << opt.head.p
                << (opt.head.alpha_auto ? ", chosen automatically" : "") << ")\n";
      if (!opt.head.alpha_auto && summary.alpha < summary.alpha_low) {
        std::cerr << "[l2face] warning: head.alpha " << summary.alpha
                  << " is below the paper's lower bound " << summary.alpha_low
                  << "; training may be slow to converge (head.alpha: auto uses the bound)\n";
      }
    }
  }

  std::vector<torch::Tensor> params = m.backbone->parameters();
  for (auto& p : m.head->parameters()) params.push_back(p);
  ForeachSgd sgd(params, opt.optim.momentum, opt.optim.weight_decay, opt.optim.nesterov);

  std::unique_ptr<PeriodicEval> periodic_eval;
  if (ctx.isLeader() && opt.eval.every_steps > 0) {
    periodic_eval = std::make_unique<PeriodicEval>(opt.eval, opt.data.image_size);
  }
  std::unique_ptr<monitoring::ProgressLine> progress;
  if (ctx.isLeader()) progress = std::make_unique<monitoring::ProgressLine>(stderr);
  const int log_every = std::max(1, opt.monitoring.log_every);
  torch::Tensor window_loss = torch::zeros({}, torch::TensorOptions().device(device));
  torch::Tensor window_correct = torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kLong));
  int64_t window_steps = 0;
  data::Cursor cursor;

  const auto t0 = Clock::now();
  for (int64_t step = 0; step < opt.optim.max_steps; ++step) {
    std::shared_ptr<data::Batch> batch = loader.next();
    cursor = data::Cursor{batch->epoch, batch->step + 1};
    torch::Tensor x = toInput(batch->pixels.data(), batch->batch_size, batch->height, batch->width, device);
    torch::Tensor y = torch::from_blob(batch->labels.data(), {batch->batch_size}, torch::kLong).to(device);

    const double lr = learningRate(opt.optim, step);
    torch::Tensor logits = m.head->forward(m.backbone->forward(x));
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
    sgd.zeroGrad();
    loss.backward();
    sgd.step(lr);

    // Accumulate on the device; the host reads them only at a logging boundary.
    window_loss += loss.detach();
    window_correct += logits.detach().argmax(1).eq(y).sum();
    ++window_steps;
    const int64_t done = step + 1;
    if (done % log_every == 0 || done == opt.optim.max_steps) {
      summary.final_loss = window_loss.item<double>() / window_steps;
      summary.train_accuracy =
          static_cast<double>(window_correct.item<int64_t>()) / (window_steps * batch->batch_size);
      window_loss.zero_();
      window_correct.zero_();
      window_steps = 0;
      if (progress) {
        monitoring::ProgressSnapshot s;
        s.step = done;
        s.total_steps = opt.optim.max_steps;
        s.epoch = batch->epoch;
        s.loss = summary.final_loss;
        s.accuracy = summary.train_accuracy;
        s.elapsed_seconds = secondsSince(t0);
        s.images_per_second = done * global_batch / s.elapsed_seconds;
        s.lr = lr;
        s.alpha = summary.alpha;
        progress->update(s);
      }
    }
    if (periodic_eval && periodic_eval->due(done)) {
      progress.reset();  // close an in-place line before the table
      eval::VerificationReport r = periodic_eval->run(*m.backbone, device);
      std::cerr << "[l2face] evaluation at step " << done << ":\n" << eval::reportTable(r);
      fs::create_directories(fs::path(opt.run.dir) / "eval");
      std::ofstream(fs::path(opt.run.dir) / "eval" / ("step_" + std::to_string(done) + ".json"))
          << eval::reportJson(r);
      summary.eval_step = done;
      summary.eval_accuracy = r.metrics.accuracy_mean;
      progress = std::make_unique<monitoring::ProgressLine>(stderr);
    }
    if (opt.checkpoint.every_steps > 0 && done % opt.checkpoint.every_steps == 0 &&
        done != opt.optim.max_steps) {
      saveCheckpoint(opt, ctx, m, sgd, geo, done, cursor, summary);
    }
  }
  summary.seconds = secondsSince(t0);
  summary.steps = opt.optim.max_steps;
  summary.images_per_second = summary.steps * global_batch / summary.seconds;
  data::LoaderStats ls = loader.stats();
  summary.data_wait_fraction = ls.wait_seconds / summary.seconds;
  summary.decode_errors = ls.decode_errors;
  progress.reset();
  saveCheckpoint(opt, ctx, m, sgd, geo, summary.steps, cursor, summary);
  return summary;
}

std::string summaryJson(const TrainSummary& s) {
  nlohmann::json j = {{"steps", s.steps},
                      {"final_loss", s.final_loss},
                      {"train_accuracy", s.train_accuracy},
                      {"images_per_second", s.images_per_second},
                      {"seconds", s.seconds},
                      {"data_wait_fraction", s.data_wait_fraction},
                      {"world_size", s.world_size},
                      {"alpha", s.alpha},
                      {"alpha_low", s.alpha_low},
                      {"num_classes", s.num_classes},
                      {"num_images", s.num_images},
                      {"decode_errors", s.decode_errors},
                      {"backbone_parameters", s.parameters},
                      {"device", s.device},
                      {"checkpoint", s.checkpoint}};
  if (s.eval_step >= 0) {
    j["eval"] = {{"step", s.eval_step}, {"accuracy", s.eval_accuracy}};
  }
  return j.dump(2) + "\n";
}

}  // namespace l2face::trainer
