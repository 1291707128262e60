// TrainingRun: set-up, the training loop and its boundary duties.
#include "training_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cuda_stream.h"
#include "l2face/data/sampler.h"
#include "l2face/trainer/internal/batch_transfer.h"
#include "l2face/trainer/internal/pretrained.h"
#include "l2face/trainer/internal/schedule.h"
#include "l2face/trainer/internal/sync_debug.h"

namespace fs = std::filesystem;

namespace l2face::trainer {
namespace {

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TrainingRun::TrainingRun(const TrainerOptions& opt, comm::Communicator& comm,
                         comm::Communicator& control, const comm::RunContext& ctx)
    : opt_(opt),
      comm_(comm),
      ctx_(ctx),
      world_(comm.size()),
      log_every_(std::max(1, opt.monitoring.log_every)),
      control_(control),
      rt_(configureRuntime(opt, ctx)) {
  followCurrentStream(comm_, rt_.device);  // the start-up broadcasts are ordered after it too
  openData();
  metrics_ = std::make_unique<RunMetrics>(opt_, ctx_);
  buildFromStart();
  startLoop();
}

// The training set, the run directory and its class map (rank 0).
void TrainingRun::openData() {
  dataset_ = data::openDataset(opt_.data.train);
  num_classes_ = dataset_->numClasses();
  if (ctx_.isLeader()) {
    fs::create_directories(opt_.run.dir);
    data::writeClassMap(*dataset_, (fs::path(opt_.run.dir) / "classes.tsv").string());
  }
}

// The model and optimizer, fresh or from the checkpoint the ranks agree to resume.
void TrainingRun::buildFromStart() {
  geo_ = ModelGeometry{opt_.model, opt_.head, opt_.data.image_size, num_classes_};
  source_ = findResumeSource(opt_.resume, opt_.run.dir, control_);
  if (source_) checkCompatible(*source_, geo_, opt_.optim.type);
  planBatches();
  const ClassifierPlacement placement = choosePlacement(opt_, world_, num_classes_, source_);
  m_ = buildModel(opt_, rt_, num_classes_, placement, source_, comm_, ctx_, batch_.loaderBatch());
  metrics_->classifierShard(m_.classifier ? m_.classifier->range().size() : num_classes_);

  std::vector<torch::Tensor> never_decay;
  if (m_.head->alphaLearnable()) never_decay.push_back(m_.head->alphaTensor());
  optimizer_ = makeOptimizer(
      opt_.optim, parameterGroups({m_.backbone.get(), m_.head.get()}, opt_.optim, never_decay));

  position_.global_batch = batch_.loaderBatch();
  position_.accumulate = batch_.accumulate;
  if (source_) position_ = restoreState(*source_, m_, *optimizer_, position_, ctx_.rank);
}

// The images of an optimizer step and their split over the ranks: as configured, or a fixed
// global batch (data.global_batch; the checkpoint's with --keep-global-batch) split into per-rank
// batches and accumulation steps. Every rank computes the same plan (or throws the same
// std::invalid_argument: no split on this many ranks). Rank 0 says what it chose.
void TrainingRun::planBatches() {
  std::optional<SavedBatch> saved;
  if (source_ && opt_.keep_global_batch) {
    saved = SavedBatch{source_->globalBatch(), fs::path(source_->dir).filename().string()};
  }
  std::string warning;
  batch_ = planBatch(opt_.data, opt_.optim, opt_.keep_global_batch, world_, saved, &warning);
  metrics_->shape(world_, batch_.global_batch);
  if (!ctx_.isLeader()) return;
  if (!warning.empty()) std::cerr << "[l2face] warning: " << warning << "\n";
  if (batch_.fixed()) std::cerr << "[l2face] " << describeBatchPlan(batch_) << "\n";
}

// Loader, data parallelism, evaluation, reporting, checkpoints and the step, positioned where
// the run starts.
void TrainingRun::startLoop() {
  data::Sampler sampler(dataset_->size(), position_.global_batch, opt_.run.seed, ctx_.rank, world_,
                        batch_.accumulate);
  // The epoch is over (or a changed global batch crossed its end).
  if (position_.cursor.step >= sampler.stepsPerEpoch()) {
    position_.cursor = data::Cursor{position_.cursor.epoch + 1, 0};
  }
  cursor_ = position_.cursor;
  loader_ = std::make_unique<data::Loader>(dataset_, sampler, opt_.data, opt_.run.seed, cursor_,
                                           /*train=*/true, batchAllocator(rt_.device));
  dp_ = makeDataParallel(opt_, m_, comm_);
  if (ctx_.isLeader() && opt_.eval.every_steps > 0) {
    eval_ = std::make_unique<PeriodicEval>(opt_.eval, opt_.data.image_size);
  }
  summary_.world_size = world_;
  summary_.global_batch = batch_.global_batch;
  summary_.batch_per_rank = batch_.batch_per_rank;
  summary_.accumulate_steps = batch_.accumulate;
  summary_.restarts = opt_.restarts;
  summary_.num_classes = num_classes_;
  summary_.num_images = static_cast<int64_t>(dataset_->size());
  summary_.alpha = m_.head->alpha();
  summary_.parameters = parameterCount(*m_.backbone);
  summary_.device = rt_.device.str();
  summary_.precision = rt_.bf16 ? "bf16" : "fp32";
  summary_.resumed_from_step = source_ ? position_.step : -1;
  summary_.alpha_low = reportAlpha(opt_, m_, num_classes_, summary_.alpha, ctx_.isLeader());

  console_ = std::make_unique<RunConsole>(ctx_.isLeader(), opt_.run.dir);
  progress_ = std::make_unique<ProgressFile>(ctx_.isLeader(), opt_.run.dir, batch_, position_.step,
                                             opt_.restarts);
  progress_->write(position_.step, /*stepped=*/false);  // the plan is known before the first step
  counters_ = std::make_unique<StepCounters>(rt_.device);
  checkpoints_ =
      std::make_unique<CheckpointDuty>(opt_, ctx_, control_, geo_, m_, *optimizer_, *metrics_,
                                       *console_, source_ ? position_.step : -1);
  StepConfig sc;
  sc.device = rt_.device;
  sc.bf16 = rt_.bf16;
  sc.channels_last = rt_.channels_last;
  sc.accumulate = batch_.accumulate;
  sc.clip_grad_norm = opt_.optim.clip_grad_norm;
  step_ = std::make_unique<TrainStep>(m_, *optimizer_, comm_, dp_.get(), sc);
  window_start_ = position_.step;
}

// The training loop: one optimizer step, then the duties of the step boundary.
TrainSummary TrainingRun::run() {
  t0_ = Clock::now();
  int64_t step = position_.step;
  while (step < opt_.optim.max_steps) {
    const double lr = learningRate(opt_.optim, step);
    trainStep(step, lr);
    const int64_t done = ++step;

    const bool window = done % log_every_ == 0 || done == opt_.optim.max_steps;
    if (window) logWindow(done, lr);
    if (window || done == position_.step + 1) progress_->write(done);  // RUN_DIR/progress.json
    if (eval_ && eval_->due(done)) evaluate(done);
    checkpoints_->poll();
    if (agreeToStop()) {
      stopForPreemption(done);
      break;
    }
    if (done != opt_.optim.max_steps && checkpoints_->due(done)) {
      checkpoints_->save(positionAt(done), /*wait=*/false);
    }
  }
  return finishRun(step);
}

// One optimizer step over batch_.accumulate batches, free of host synchronisation on CUDA
// (docs/performance.md). Fault injection (docs/reliability.md): a NaN
// loss, or a rank that stops calling collectives (the watchdog of the others ends the job).
void TrainingRun::trainStep(int64_t step, double lr) {
  initWarmup(step);
  const bool poisoned = opt_.faults.has("train.nan_loss", ctx_.rank, step);
  if (opt_.faults.has("train.hang", ctx_.rank, step)) hang(step);
  opt_.faults.crashPoint("train.crash", ctx_.rank, step);
  if (const auto* slow = opt_.faults.find("train.slow_step", ctx_.rank, step)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(slow->value));
  }
  followCurrentStream(comm_, rt_.device);
  const SyncDebugScope sync_debug(rt_.device, opt_.run.cuda_sync_debug);  // run.cuda_sync_debug
  step_->begin(step);
  for (int micro = 0; micro < batch_.accumulate; ++micro) {
    const auto wait0 = Clock::now();
    std::shared_ptr<data::Batch> batch = loader_->next();
    metrics_->dataWait(secondsSince(wait0));
    cursor_ = data::Cursor{batch->epoch, batch->step + 1};
    epoch_ = batch->epoch;
    step_->microBatch(*batch, micro, poisoned);
  }
  grad_norm_ = step_->finish(lr, poisoned, *counters_).norm;
  ++window_steps_;
  metrics_->stepDone(int64_t{batch_.accumulate} * batch_.batch_per_rank);
}

// model.init_warmup_steps: until that step the backbone learns at lr × init_warmup_lr_scale; at 0
// it is frozen, its BatchNorms in evaluation mode (set again every step: an evaluation leaves the
// backbone in training mode). Follows the step, so a resumed run continues the warm-up.
void TrainingRun::initWarmup(int64_t step) {
  const ModelOptions& mo = opt_.model;
  if (mo.init.empty() || mo.init_warmup_steps <= 0 || mo.init_warmup_lr_scale == 1.0) return;
  const bool warm = step < mo.init_warmup_steps;
  const bool frozen = mo.init_warmup_lr_scale == 0.0;
  if (warm && frozen) freezeBatchNorm(*m_.backbone);
  if (warm == warming_) return;
  warming_ = warm;
  optimizer_->scaleLearningRate(m_.backbone->parameters(), warm ? mo.init_warmup_lr_scale : 1.0);
  if (warm) return;
  m_.backbone->train();
  if (ctx_.isLeader() && step > 0) {
    console_->say("[l2face] step " + std::to_string(step) + ": the backbone " +
                  (frozen ? "is unfrozen" : "warm-up is over") + " (model.init_warmup_steps)\n");
  }
}

void TrainingRun::hang(int64_t step) const {
  std::cerr << "[l2face] injected fault train.hang: rank " << ctx_.rank << " stops at step " << step
            << "\n";
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
}

// Logging window: the device counters are read (the window's one host sync), the loss and
// accuracy averaged over every rank's samples (one small all-reduce), then checked, published
// and printed.
void TrainingRun::logWindow(int64_t done, double lr) {
  const bool learnable = m_.head->alphaLearnable();
  StepCounters::Window w =
      counters_->snapshot(learnable ? m_.head->alphaTensor() : torch::Tensor(), grad_norm_);
  double sums[3] = {w.loss_sum, w.finite_steps, w.correct};
  if (world_ > 1) control_.allReduce(sums, 3, comm::DType::kFloat64, comm::ReduceOp::kSum);
  const double samples = static_cast<double>(window_steps_ * batch_.global_batch);
  summary_.final_loss = sums[1] > 0 ? sums[0] / sums[1] : std::nan("");
  summary_.train_accuracy = sums[2] / samples;
  summary_.skipped_steps = w.skipped_total;
  if (learnable) summary_.alpha = w.alpha;
  stopOnNanRun(w, done);
  warnSkipped(w, done);
  metrics_->window(summary_, epoch_, lr, loader_->stats(),
                   dp_ ? dp_->stats() : comm::GradSyncStats{});

  WindowReport r;
  monitoring::ProgressSnapshot& p = r.progress;
  p.step = done;
  p.total_steps = opt_.optim.max_steps;
  p.epoch = epoch_;
  p.loss = summary_.final_loss;
  p.accuracy = summary_.train_accuracy;
  p.lr = lr;
  p.alpha = summary_.alpha;
  p.elapsed_seconds = secondsSince(t0_);
  p.images_per_second =
      static_cast<double>((done - position_.step) * batch_.global_batch) / p.elapsed_seconds;
  r.skipped_total = w.skipped_total;
  console_->window(r);
  window_steps_ = 0;
  window_start_ = done;
}

// optim.max_nan_steps consecutive skipped steps end the run. Every rank takes this decision at
// the same step (the skip decision is agreed); the save in flight is completed first.
void TrainingRun::stopOnNanRun(const StepCounters::Window& w, int64_t done) {
  if (w.longest_run < opt_.optim.max_nan_steps) return;
  console_->close();
  checkpoints_->finish();
  throw TrainError("optim.max_nan_steps: " + std::to_string(w.longest_run) +
                   " consecutive steps had a non-finite loss or gradient (within steps " +
                   std::to_string(window_start_ + 1) + "-" + std::to_string(done) + ", " +
                   std::to_string(w.skipped_total) + " skipped in all); parameters are " +
                   "unchanged since the last finite step. Lower optim.lr, set " +
                   "optim.clip_grad_norm, or check the data");
}

void TrainingRun::warnSkipped(const StepCounters::Window& w, int64_t done) {
  if (w.skipped_total <= skipped_reported_) return;
  console_->say("[l2face] warning: " + std::to_string(w.skipped_total - skipped_reported_) +
                " step(s) with a non-finite loss or gradient skipped in steps " +
                std::to_string(window_start_ + 1) + "-" + std::to_string(done) + " (" +
                std::to_string(w.skipped_total) + " in all)\n");
  skipped_reported_ = w.skipped_total;
}

// In-training verification (rank 0): the reports are printed, published and written to
// RUN_DIR/eval/step_<N>.json.
void TrainingRun::evaluate(int64_t done) {
  auto paused = console_->pause();
  std::vector<eval::VerificationReport> reports = eval_->run(*m_.backbone, rt_.device);
  std::cerr << "[l2face] evaluation at step " << done << ":\n";
  for (const auto& r : reports) {
    std::cerr << eval::reportTable(r);
    metrics_->evaluation(r);
  }
  fs::create_directories(fs::path(opt_.run.dir) / "eval");
  std::ofstream(fs::path(opt_.run.dir) / "eval" / ("step_" + std::to_string(done) + ".json"))
      << (reports.size() == 1 ? eval::reportJson(reports[0]) : eval::reportsJson(reports));
  summary_.eval_step = done;
  summary_.eval_accuracy = reports.empty() ? 0 : reports[0].metrics.accuracy_mean;
}

// Preemption (SIGTERM / SIGUSR1 on any rank): every rank learns it at the same boundary.
bool TrainingRun::agreeToStop() {
  int32_t stop = opt_.stop_requested && opt_.stop_requested->load() != 0 ? 1 : 0;
  if (world_ > 1) control_.allReduce(&stop, 1, comm::DType::kInt32, comm::ReduceOp::kMax);
  return stop != 0;
}

void TrainingRun::stopForPreemption(int64_t done) {
  console_->say("[l2face] preemption requested: saving the checkpoint of step " +
                std::to_string(done) + " and stopping\n");
  if (checkpoints_->lastSaved() != done) checkpoints_->save(positionAt(done), /*wait=*/true);
  checkpoints_->finish();
  summary_.preempted = true;
}

RunPosition TrainingRun::positionAt(int64_t done) const {
  RunPosition p = position_;
  p.step = done;
  p.cursor = cursor_;
  p.skipped_steps = position_.skipped_steps + summary_.skipped_steps;
  return p;
}

// The run's closing figures, and (unless preempted) its final checkpoint.
TrainSummary TrainingRun::finishRun(int64_t step) {
  summary_.seconds = secondsSince(t0_);
  summary_.steps = step;
  summary_.images_per_second = static_cast<double>((step - position_.step) * batch_.global_batch) /
                               std::max(summary_.seconds, 1e-9);
  const data::LoaderStats ls = loader_->stats();
  summary_.data_wait_fraction = ls.wait_seconds / summary_.seconds;
  summary_.decode_errors = ls.decode_errors;
  console_->close();
  if (!summary_.preempted) checkpoints_->saveFinal(positionAt(step));
  summary_.checkpoint = checkpoints_->committedDir();
  if (summary_.checkpoint.empty() && source_) summary_.checkpoint = source_->dir;
  return summary_;
}

}  // namespace l2face::trainer
