// The training loop: loader -> backbone -> head -> cross-entropy -> multi-tensor optimizer step,
// with gradient accumulation, device-side skipping of non-finite steps, and checkpoints.
#include "l2face/trainer/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "backbone.h"
#include "data_parallel.h"
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
#include "precision.h"
#include "run_metrics.h"
#include "schedule.h"
#include "step_counters.h"

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
                    const Optimizer& optimizer, const ModelGeometry& geo, int64_t step,
                    const data::Cursor& cursor, TrainSummary& summary) {
  if (!ctx.isLeader()) return;  // replicated state is written once
  // Skipped steps keep NaN out of the parameters, but BatchNorm statistics or a diverging run
  // can still go non-finite: such weights must never become the checkpoint a resume trusts.
  if (!allFinite(*m.backbone) || !allFinite(*m.head)) {
    throw TrainError("refusing to save the checkpoint of step " + std::to_string(step) + " in " +
                     opt.run.dir + ": the model holds NaN/Inf values (diverged training; " +
                     "lower optim.lr or set optim.clip_grad_norm)");
  }
  checkpoint::CheckpointWriter w(opt.run.dir, step, ctx.world_size);
  saveModule(*m.backbone, w.path("backbone.pt"));
  saveModule(*m.head, w.path("head.pt"));
  saveTensors(optimizer.state(), w.path("optimizer.pt"));
  nlohmann::json meta = geometryJson(geo);
  meta["cursor"] = {{"epoch", cursor.epoch}, {"step", cursor.step}};
  meta["config_digest"] = opt.config_digest;
  meta["alpha"] = m.head->alpha();
  summary.checkpoint = w.commit(meta, opt.checkpoint.keep_last).string();
}

void reportAlpha(const TrainerOptions& opt, const Model& m, int64_t num_classes,
                 TrainSummary& summary) {
  if (num_classes <= 2 || (opt.head.type != "l2_softmax" && !m.head->normalised())) return;
  summary.alpha_low = alphaLowerBound(num_classes, opt.head.p);
  const char* name = m.head->normalised() ? "scale s" : "alpha";
  std::cerr << "[l2face] " << name << " = " << summary.alpha
            << " (lower bound alpha_low = " << summary.alpha_low << " for C = " << num_classes
            << ", p = " << opt.head.p
            << (opt.head.alpha_auto && !m.head->normalised() ? ", chosen automatically" : "")
            << (m.head->alphaLearnable() ? ", learnable" : "") << ")\n";
  if (!opt.head.alpha_auto && summary.alpha < summary.alpha_low) {
    std::cerr << "[l2face] warning: " << (m.head->normalised() ? "head.scale " : "head.alpha ")
              << summary.alpha << " is below the paper's lower bound " << summary.alpha_low
              << "; training may be slow to converge"
              << (m.head->normalised() ? "\n" : " (head.alpha: auto uses the bound)\n");
  }
}

}  // namespace

TrainSummary train(const TrainerOptions& opt, comm::Communicator& comm,
                   const comm::RunContext& ctx) {
  const int world = comm.size();
  if (opt.data.train.empty()) throw TrainError("data.train is empty: name an ImageFolder root");
  if (opt.optim.max_steps < 1) throw TrainError("optim.max_steps must be >= 1");
  if (opt.optim.accumulate_steps < 1) throw TrainError("optim.accumulate_steps must be >= 1");
  int threads = opt.run.threads;
  if (threads <= 0) {
    threads = std::max(
        1, static_cast<int>(std::thread::hardware_concurrency()) / std::max(1, ctx.local_size));
  }
  torch::set_num_threads(threads);
  torch::manual_seed(opt.run.seed);
  const torch::Device device = resolveDevice(opt.run.device);
  const bool bf16 = resolvePrecision(opt.run.precision, device) == "bf16";
  const bool channels_last = device.is_cuda() && opt.run.channels_last;

  std::shared_ptr<const data::Dataset> dataset = data::openDataset(opt.data.train);
  const int64_t num_classes = dataset->numClasses();
  if (ctx.isLeader()) {
    fs::create_directories(opt.run.dir);
    data::writeClassMap(*dataset, (fs::path(opt.run.dir) / "classes.tsv").string());
  }
  RunMetrics metrics(opt, ctx);
  const int64_t global_batch = int64_t{opt.data.batch_size} * world;
  const int accumulate = opt.optim.accumulate_steps;
  data::Sampler sampler(dataset->size(), global_batch, opt.run.seed, ctx.rank, world);
  data::Loader loader(dataset, sampler, opt.data, opt.run.seed, data::Cursor{0, 0}, /*train=*/true);

  ModelGeometry geo{opt.model, opt.head, opt.data.image_size, num_classes};
  Model m;
  m.backbone = makeBackbone(opt.model, opt.data.image_size);
  m.head = Head(opt.head, opt.model.embedding_dim, num_classes);
  m.backbone->to(device);
  m.head->to(device);
  if (channels_last) toChannelsLast(*m.backbone);
  m.backbone->train();
  m.head->train();

  TrainSummary summary;
  summary.world_size = world;
  summary.num_classes = num_classes;
  summary.num_images = static_cast<int64_t>(dataset->size());
  summary.alpha = m.head->alpha();
  summary.parameters = parameterCount(*m.backbone);
  summary.device = device.str();
  summary.precision = bf16 ? "bf16" : "fp32";
  if (ctx.isLeader()) reportAlpha(opt, m, num_classes, summary);

  std::vector<torch::Tensor> never_decay;
  if (m.head->alphaLearnable()) never_decay.push_back(m.head->alphaTensor());
  auto optimizer = makeOptimizer(
      opt.optim, parameterGroups({m.backbone.get(), m.head.get()}, opt.optim, never_decay));

  // Data parallel: every rank starts from rank 0's weights; gradients are averaged in buckets
  // while backward runs. BatchNorm statistics stay per rank (as in PyTorch DDP without SyncBN).
  std::unique_ptr<DataParallel> dp;
  if (world > 1) {
    std::vector<torch::Tensor> params, buffers;
    for (auto* mod : std::initializer_list<torch::nn::Module*>{m.backbone.get(), m.head.get()}) {
      for (auto& p : mod->parameters()) {
        if (p.requires_grad()) params.push_back(p);
      }
      for (auto& b : mod->buffers()) buffers.push_back(b);
    }
    dp = std::make_unique<DataParallel>(comm, params, comm::gradSyncOptions(opt.comm));
    dp->broadcastFromRank0(buffers);
  }

  std::unique_ptr<PeriodicEval> periodic_eval;
  if (ctx.isLeader() && opt.eval.every_steps > 0) {
    periodic_eval = std::make_unique<PeriodicEval>(opt.eval, opt.data.image_size);
  }
  std::unique_ptr<monitoring::ProgressLine> progress;
  if (ctx.isLeader()) progress = std::make_unique<monitoring::ProgressLine>(stderr);
  const int log_every = std::max(1, opt.monitoring.log_every);
  StepCounters counters(device);
  int64_t window_steps = 0, window_start = 0, skipped_reported = 0;
  data::Cursor cursor;
  torch::Tensor grad_norm;

  // The one place that reads a batch's pixels (their buffer type belongs to the data module).
  auto inputOf = [&](const data::Batch& b) {
    return toInput(b.pixels.data(), b.batch_size, b.height, b.width, device, channels_last);
  };

  const auto t0 = Clock::now();
  for (int64_t step = 0; step < opt.optim.max_steps; ++step) {
    const double lr = learningRate(opt.optim, step);
    const bool poisoned =
        std::find(opt.inject_nan_loss_steps.begin(), opt.inject_nan_loss_steps.end(), step) !=
        opt.inject_nan_loss_steps.end();
    optimizer->zeroGrad();
    torch::Tensor step_loss = torch::zeros({}, torch::TensorOptions().device(device));
    torch::Tensor correct =
        torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kLong));
    int64_t epoch = 0;
    for (int micro = 0; micro < accumulate; ++micro) {
      if (dp) dp->setSync(micro == accumulate - 1);
      const auto wait0 = Clock::now();
      std::shared_ptr<data::Batch> batch = loader.next();
      metrics.dataWait(secondsSince(wait0));
      cursor = data::Cursor{batch->epoch, batch->step + 1};
      epoch = batch->epoch;
      torch::Tensor x = inputOf(*batch);
      torch::Tensor y =
          torch::from_blob(batch->labels.data(), {batch->batch_size}, torch::kLong).to(device);
      torch::Tensor embeddings;
      {
        AutocastGuard autocast(device, bf16);
        embeddings = m.backbone->forward(x);
      }
      HeadOutput out = m.head->forward(embeddings, y);  // fp32 head, logits and softmax
      torch::Tensor loss = torch::nn::functional::cross_entropy(out.logits, y);
      if (poisoned) loss = loss * std::nan("");
      (accumulate > 1 ? loss / accumulate : loss).backward();
      step_loss += loss.detach();
      correct += out.scores.detach().argmax(1).eq(y).sum();
    }
    if (dp) dp->finish();
    step_loss /= accumulate;
    // Every rank must take the same decision: under data parallelism the averaged gradients are
    // identical everywhere (a rank's NaN reaches all of them), while a rank's own loss is not.
    GradientCheck check = checkGradients(optimizer->grads(), opt.optim.clip_grad_norm,
                                         dp ? torch::Tensor() : step_loss);
    optimizer->step(lr, check.found_inf);
    counters.add(step_loss, correct, check.found_inf);
    grad_norm = check.norm;
    ++window_steps;

    const int64_t done = step + 1;
    metrics.stepDone(int64_t{accumulate} * opt.data.batch_size);
    if (done % log_every == 0 || done == opt.optim.max_steps) {
      StepCounters::Window w = counters.snapshot(
          m.head->alphaLearnable() ? m.head->alphaTensor() : torch::Tensor(), grad_norm);
      summary.final_loss = w.finite_steps > 0 ? w.loss_sum / w.finite_steps : std::nan("");
      summary.train_accuracy =
          w.correct / static_cast<double>(window_steps * accumulate * opt.data.batch_size);
      summary.skipped_steps = w.skipped_total;
      if (m.head->alphaLearnable()) summary.alpha = w.alpha;
      if (w.longest_run >= opt.optim.max_nan_steps) {
        progress.reset();
        throw TrainError("optim.max_nan_steps: " + std::to_string(w.longest_run) +
                         " consecutive steps had a non-finite loss or gradient (within steps " +
                         std::to_string(window_start + 1) + "-" + std::to_string(done) + ", " +
                         std::to_string(w.skipped_total) + " skipped in all); parameters are " +
                         "unchanged since the last finite step. Lower optim.lr, set " +
                         "optim.clip_grad_norm, or check the data");
      }
      if (ctx.isLeader() && w.skipped_total > skipped_reported) {
        progress.reset();
        std::cerr << "[l2face] warning: " << (w.skipped_total - skipped_reported)
                  << " step(s) with a non-finite loss or gradient skipped in steps "
                  << window_start + 1 << "-" << done << " (" << w.skipped_total << " in all)\n";
        skipped_reported = w.skipped_total;
        progress = std::make_unique<monitoring::ProgressLine>(stderr);
      }
      metrics.window(summary, epoch, lr, loader.stats(), dp ? dp->stats() : comm::GradSyncStats{});
      window_steps = 0;
      window_start = done;
      if (progress) {
        monitoring::ProgressSnapshot s;
        s.step = done;
        s.total_steps = opt.optim.max_steps;
        s.epoch = epoch;
        s.loss = summary.final_loss;
        s.accuracy = summary.train_accuracy;
        s.elapsed_seconds = secondsSince(t0);
        s.images_per_second = done * accumulate * global_batch / s.elapsed_seconds;
        s.lr = lr;
        s.alpha = summary.alpha;
        progress->update(s);
      }
    }
    if (periodic_eval && periodic_eval->due(done)) {
      progress.reset();  // close an in-place line before the table
      std::vector<eval::VerificationReport> reports = periodic_eval->run(*m.backbone, device);
      std::cerr << "[l2face] evaluation at step " << done << ":\n";
      for (const auto& r : reports) {
        std::cerr << eval::reportTable(r);
        metrics.evaluation(r);
      }
      fs::create_directories(fs::path(opt.run.dir) / "eval");
      std::ofstream(fs::path(opt.run.dir) / "eval" / ("step_" + std::to_string(done) + ".json"))
          << (reports.size() == 1 ? eval::reportJson(reports[0]) : eval::reportsJson(reports));
      summary.eval_step = done;
      summary.eval_accuracy = reports.empty() ? 0 : reports[0].metrics.accuracy_mean;
      progress = std::make_unique<monitoring::ProgressLine>(stderr);
    }
    if (opt.checkpoint.every_steps > 0 && done % opt.checkpoint.every_steps == 0 &&
        done != opt.optim.max_steps) {
      metrics.checkpoint([&] { saveCheckpoint(opt, ctx, m, *optimizer, geo, done, cursor, summary); },
                         summary.checkpoint);
    }
  }
  summary.seconds = secondsSince(t0);
  summary.steps = opt.optim.max_steps;
  summary.images_per_second = summary.steps * accumulate * global_batch / summary.seconds;
  data::LoaderStats ls = loader.stats();
  summary.data_wait_fraction = ls.wait_seconds / summary.seconds;
  summary.decode_errors = ls.decode_errors;
  progress.reset();
  metrics.checkpoint(
      [&] { saveCheckpoint(opt, ctx, m, *optimizer, geo, summary.steps, cursor, summary); },
      summary.checkpoint);
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
                      {"skipped_steps", s.skipped_steps},
                      {"device", s.device},
                      {"precision", s.precision},
                      {"checkpoint", s.checkpoint}};
  if (s.eval_step >= 0) {
    j["eval"] = {{"step", s.eval_step}, {"accuracy", s.eval_accuracy}};
  }
  return j.dump(2) + "\n";
}

}  // namespace l2face::trainer
