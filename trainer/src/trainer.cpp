// The training loop: loader -> backbone -> head -> cross-entropy -> multi-tensor optimizer step,
// with gradient accumulation, device-side skipping of non-finite steps, and checkpoints.
#include "l2face/trainer/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <csignal>
#include <thread>

#include "backbone.h"
#include "data_parallel.h"
#include "head.h"
#include "input.h"
#include "l2face/checkpoint/faults.h"
#include "l2face/checkpoint/store.h"
#include "l2face/data/dataset.h"
#include "l2face/data/loader.h"
#include "l2face/data/sampler.h"
#include "l2face/monitoring/progress.h"
#include "l2face/trainer/alpha.h"
#include "model_state.h"
#include "run_checkpoint.h"
#include "optimizer.h"
#include "periodic_eval.h"
#include "precision.h"
#include "run_metrics.h"
#include "schedule.h"
#include "sharded_classifier.h"
#include "step_counters.h"
#include "train_step.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

using Model = TrainModel;

std::string mib(int64_t bytes) {  // KiB, MiB or GiB, whichever reads best
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b < (1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  } else if (b < (1 << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1 << 30));
  }
  return buf;
}

// What a rank holds for its class shard, printed once by rank 0 at start.
void reportClassifier(const TrainerOptions& opt, const comm::RunContext& ctx, int world,
                      int64_t num_classes, int64_t global_batch) {
  const ClassifierMemory mem =
      classifierMemory(opt.head, opt.optim, opt.classifier, num_classes,
                       opt.model.embedding_dim, world, ctx.rank, global_batch);
  const ClassRange r = classRange(num_classes, world, ctx.rank);
  std::cerr << "[l2face] classifier: sharded over " << world << " rank(s); rank " << ctx.rank
            << " owns classes [" << r.begin << ", " << r.end << ") of " << num_classes;
  if (opt.classifier.sample_rate < 1) {
    std::cerr << ", samples up to " << mem.sampled_rows << " rows per step (sample_rate "
              << opt.classifier.sample_rate << ")";
  }
  std::cerr << "\n[l2face] classifier memory per rank: weights " << mib(mem.weight_bytes)
            << ", gradient " << mib(mem.gradient_bytes) << ", optimizer state "
            << mib(mem.optimizer_bytes) << ", logits " << mib(mem.logits_bytes)
            << ", features " << mib(mem.activation_bytes) << " = " << mib(mem.total()) << "\n";
}

// Skipped steps keep NaN out of the parameters, but BatchNorm statistics or a diverging run can
// still go non-finite: such state must never become the checkpoint a resume trusts. Collective:
// every rank refuses alike.
void refuseNonFinite(const TrainerOptions& opt, Model& m, comm::Communicator& comm, int64_t step) {
  bool finite = allFinite(*m.backbone) && allFinite(*m.head);
  if (finite && m.classifier) {
    finite = m.classifier->weight().isfinite().all().item<bool>();
  }
  int32_t bad = finite ? 0 : 1;
  if (comm.size() > 1) comm.allReduce(&bad, 1, comm::DType::kInt32, comm::ReduceOp::kMax);
  if (bad) {
    throw TrainError("refusing to save the checkpoint of step " + std::to_string(step) + " in " +
                     opt.run.dir + ": the model holds NaN/Inf values (diverged training; " +
                     "lower optim.lr or set optim.clip_grad_norm)");
  }
}

void reportAlpha(const TrainerOptions& opt, const Model& m, int64_t num_classes,
                 TrainSummary& summary) {
  if (num_classes <= 2 || (opt.head.type != HeadType::kL2Softmax && !m.head->normalised())) return;
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
  if (device.is_cpu()) retainFreedHostMemory();
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

  ModelGeometry geo{opt.model, opt.head, opt.data.image_size, num_classes};
  // Control-path collectives (resume choice, checkpoint agreement, preemption) hand host memory;
  // on a device backend they go through a host view of the same communicator.
  std::unique_ptr<comm::Communicator> host_view = comm::makeHostView(comm);
  comm::Communicator& control = host_view ? *host_view : comm;
  const std::optional<ResumeSource> source = findResumeSource(opt.resume, opt.run.dir, control);
  ClassifierPlacement placement = resolveClassifierParallel(opt.classifier, world, num_classes);
  if (source) {
    checkCompatible(*source, geo, opt.optim.type);
    if (opt.classifier.parallel == ClassifierPlacement::kAuto) {
      placement = source->placement();  // auto follows the checkpoint: P -> P' keeps its layout
    } else if (placement != source->placement()) {
      throw IncompatibleCheckpoint("checkpoint " + source->dir + " holds a " +
                                   enumName(source->placement()) +
                                   " classifier; this run asks for " + enumName(placement) +
                                   " (classifier.parallel: auto follows the checkpoint)");
    }
    if (placement == ClassifierPlacement::kReplicated && opt.classifier.sample_rate < 1) {
      throw IncompatibleCheckpoint("classifier.sample_rate < 1 needs a sharded classifier; " +
                                   source->dir + " holds a replicated one");
    }
  }
  const bool sharded = placement == ClassifierPlacement::kSharded;
  Model m;
  m.backbone = makeBackbone(opt.model, opt.data.image_size);
  m.head = Head(opt.head, opt.model.embedding_dim, num_classes, opt.run.seed, !sharded);
  if (sharded) {
    m.classifier = std::make_unique<ShardedClassifier>(opt.head, opt.optim, opt.classifier,
                                                       num_classes, opt.model.embedding_dim,
                                                       opt.run.seed, comm, device);
    if (ctx.isLeader()) reportClassifier(opt, ctx, world, num_classes, global_batch);
  }
  metrics.classifierShard(sharded ? m.classifier->range().size() : num_classes);
  // Module state is restored on the host, before the move to the device.
  if (source) {
    loadModule(*m.backbone, fs::path(source->dir) / "backbone.pt");
    loadModule(*m.head, fs::path(source->dir) / "head.pt");
  }
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

  RunPosition position;
  position.global_batch = global_batch;
  position.accumulate = accumulate;
  if (source) {
    position = restoreState(*source, m, *optimizer, position, ctx.rank);
    summary.resumed_from_step = position.step;
    summary.alpha = m.head->alpha();
    if (position.cursor.step >= sampler.stepsPerEpoch()) {  // a changed batch crossed the epoch
      position.cursor = data::Cursor{position.cursor.epoch + 1, 0};
    }
  }
  data::Loader loader(dataset, sampler, opt.data, opt.run.seed, position.cursor, /*train=*/true);

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
  // One JSON line per logging window (rank 0): the loss curve, for plots and comparisons.
  std::ofstream train_log;
  if (ctx.isLeader()) {
    train_log.open(fs::path(opt.run.dir) / "train_log.jsonl", std::ios::app);
  }
  StepCounters counters(device);
  int64_t window_steps = 0, window_start = position.step, skipped_reported = 0;
  data::Cursor cursor = position.cursor;
  torch::Tensor grad_norm;

  // Checkpoints: written by a background thread (checkpoint.async) and committed collectively.
  checkpoint::AsyncCheckpointOptions ckpt_options;
  ckpt_options.commit.retention = {opt.checkpoint.keep_last, opt.checkpoint.keep_every};
  ckpt_options.failures_fatal = opt.checkpoint.fail_on_error;
  checkpoint::AsyncCheckpointer ckpt(opt.run.dir, ckpt_options);
  checkpoint::SaveSchedule schedule(opt.checkpoint.every_steps, opt.checkpoint.every_seconds);
  const checkpoint::FaultPlan faults = checkpoint::FaultPlan::fromEnvironment();
  int64_t last_saved = source ? position.step : -1;
  int64_t last_committed = last_saved;
  auto report = [&](const checkpoint::SaveOutcome& o) {
    metrics.checkpointOutcome(o);
    if (o.committed()) {
      summary.checkpoint = o.dir.string();
      last_committed = o.step;
      // Fault injection for tests: a real SIGKILL right after a committed save.
      if (faults.has("train.kill_after_save", ctx.rank, o.step)) {
        std::cerr << "[l2face] injected fault train.kill_after_save at step " << o.step << "\n";
        std::raise(SIGKILL);
      }
    } else if (o.failed() && ctx.isLeader()) {
      progress.reset();
      std::cerr << "[l2face] error: " << o.error << " (training continues; the previous "
                << "checkpoint stays current)\n";
      progress = std::make_unique<monitoring::ProgressLine>(stderr);
    }
  };
  auto save = [&](int64_t done, bool wait) {
    report(ckpt.finish(control));  // the next save waits for the previous one
    refuseNonFinite(opt, m, control, done);
    RunPosition p = position;
    p.step = done;
    p.cursor = cursor;
    p.skipped_steps = position.skipped_steps + summary.skipped_steps;
    nlohmann::json meta = checkpointMeta(geo, opt.optim.type, opt.config_digest, m, p, world);
    ckpt.begin(control, done, snapshotJobs(m, *optimizer, ctx.rank), std::move(meta));
    last_saved = done;
    if (wait || !opt.checkpoint.async) report(ckpt.finish(control));
  };

  StepConfig step_config;
  step_config.device = device;
  step_config.bf16 = bf16;
  step_config.channels_last = channels_last;
  step_config.accumulate = accumulate;
  step_config.clip_grad_norm = opt.optim.clip_grad_norm;
  TrainStep train_step(m, *optimizer, comm, dp.get(), step_config);

  const auto t0 = Clock::now();
  int64_t step = position.step;
  for (; step < opt.optim.max_steps; ++step) {
    const double lr = learningRate(opt.optim, step);
    // Fault injection (tests; docs/reliability.md): a NaN loss, or a rank that stops calling
    // collectives (the watchdog of the others must end the job).
    const bool poisoned =
        std::find(opt.inject_nan_loss_steps.begin(), opt.inject_nan_loss_steps.end(), step) !=
            opt.inject_nan_loss_steps.end() ||
        faults.has("train.nan_loss", ctx.rank, step);
    if (faults.has("train.hang", ctx.rank, step)) {
      std::cerr << "[l2face] injected fault train.hang: rank " << ctx.rank << " stops at step "
                << step << "\n";
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
    }
    train_step.begin(step);
    int64_t epoch = 0;
    for (int micro = 0; micro < accumulate; ++micro) {
      const auto wait0 = Clock::now();
      std::shared_ptr<data::Batch> batch = loader.next();
      metrics.dataWait(secondsSince(wait0));
      cursor = data::Cursor{batch->epoch, batch->step + 1};
      epoch = batch->epoch;
      train_step.microBatch(*batch, micro, poisoned);
    }
    GradientCheck check = train_step.finish(lr, poisoned, counters);
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
        // Every rank takes this decision at this step: the save in flight is completed first.
        report(ckpt.finish(control));
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
      if (train_log) {
        nlohmann::json line = {{"step", done},          {"epoch", epoch},
                               {"loss", summary.final_loss}, {"accuracy", summary.train_accuracy},
                               {"lr", lr},              {"alpha", summary.alpha},
                               {"skipped_steps", w.skipped_total}};
        train_log << line.dump() << "\n" << std::flush;
      }
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
    if (ckpt.pending()) report(ckpt.poll(control));
    // Preemption (SIGTERM / SIGUSR1 on any rank): the ranks agree here, save, and stop.
    int32_t stop = opt.stop_requested && opt.stop_requested->load() != 0 ? 1 : 0;
    if (world > 1) control.allReduce(&stop, 1, comm::DType::kInt32, comm::ReduceOp::kMax);
    if (stop) {
      progress.reset();
      if (ctx.isLeader()) {
        std::cerr << "[l2face] preemption requested: saving the checkpoint of step " << done
                  << " and stopping\n";
      }
      if (last_saved != done) save(done, /*wait=*/true);
      report(ckpt.finish(control));
      summary.preempted = true;
      ++step;
      break;
    }
    if (done != opt.optim.max_steps && schedule.due(control, done)) save(done, /*wait=*/false);
  }
  const int64_t steps_run = step - position.step;
  summary.seconds = secondsSince(t0);
  summary.steps = step;
  summary.images_per_second = steps_run * accumulate * global_batch / std::max(summary.seconds, 1e-9);
  data::LoaderStats ls = loader.stats();
  summary.data_wait_fraction = ls.wait_seconds / summary.seconds;
  summary.decode_errors = ls.decode_errors;
  progress.reset();
  if (!summary.preempted) {
    if (last_saved != summary.steps) {
      save(summary.steps, /*wait=*/true);
      // A run whose result is not on disk did not succeed (the same verdict on every rank).
      if (last_committed != summary.steps) {
        throw TrainError("the final checkpoint (step " + std::to_string(summary.steps) +
                         ") could not be saved in " + opt.run.dir + "; the newest saved one is " +
                         (summary.checkpoint.empty() ? std::string("none") : summary.checkpoint));
      }
    }
    report(ckpt.finish(control));
  }
  if (summary.checkpoint.empty() && source) summary.checkpoint = source->dir;
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
                      {"checkpoint", s.checkpoint},
                      {"resumed_from_step", s.resumed_from_step},
                      {"preempted", s.preempted}};
  if (s.eval_step >= 0) {
    j["eval"] = {{"step", s.eval_step}, {"accuracy", s.eval_accuracy}};
  }
  return j.dump(2) + "\n";
}

}  // namespace l2face::trainer
