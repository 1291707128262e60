// RunMetrics: maps the loop's events onto the Prometheus metrics of monitoring::TrainingMetrics.
#include "run_metrics.h"

#include <algorithm>

namespace l2face::trainer {
namespace {

double unixNow() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

RunMetrics::RunMetrics(const TrainerOptions& opt, const comm::RunContext& ctx)
    : last_step_(std::chrono::steady_clock::now()) {
  monitoring::RankIdentity id{"", ctx.rank, ctx.local_rank, ctx.host, opt.run.dir};
  monitor_ = std::make_unique<monitoring::RunMonitor>(opt.monitoring, id);
  auto& m = monitor_->metrics();
  m.total_steps.Set(static_cast<double>(opt.optim.max_steps));
  m.restarts.Increment(static_cast<double>(opt.restarts));
  m.updateProcessMetrics();
  if (ctx.isLeader() && !monitor_->address().empty()) {
    std::cerr << "[l2face] metrics: http://" << monitor_->address() << "/metrics\n";
  }
}

void RunMetrics::classifierShard(int64_t classes) {
  monitor_->metrics().classifier_shard_classes.Set(static_cast<double>(classes));
}

void RunMetrics::shape(int ranks, int64_t global_batch) {
  auto& m = monitor_->metrics();
  m.world_size.Set(ranks);
  m.global_batch.Set(static_cast<double>(global_batch));
}

void RunMetrics::dataWait(double seconds) {
  monitor_->metrics().data_wait_seconds.Observe(seconds);
}

void RunMetrics::stepDone(int64_t samples) {
  auto& m = monitor_->metrics();
  const auto now = std::chrono::steady_clock::now();
  m.step_seconds.Observe(std::chrono::duration<double>(now - last_step_).count());
  last_step_ = now;
  m.steps.Increment();
  m.samples.Increment(static_cast<double>(samples));
  m.last_step_time.Set(unixNow());
}

void RunMetrics::window(const TrainSummary& s, int64_t epoch, double lr,
                        const data::LoaderStats& loader, const comm::GradSyncStats& sync) {
  auto& m = monitor_->metrics();
  m.loss.Set(s.final_loss);
  m.train_accuracy.Set(s.train_accuracy);
  m.alpha.Set(s.alpha);
  m.learning_rate.Set(lr);
  m.epoch.Set(static_cast<double>(epoch));
  m.queue_depth.Set(loader.queue_depth);
  // Counters advance by what happened since the last window.
  m.decode_errors.Increment(static_cast<double>(loader.decode_errors - decode_errors_));
  decode_errors_ = loader.decode_errors;
  m.nan_steps_skipped.Increment(static_cast<double>(s.skipped_steps - skipped_));
  skipped_ = s.skipped_steps;
  m.allreduce_bytes.Increment(static_cast<double>(sync.bytes_reduced - sync_bytes_));
  sync_bytes_ = sync.bytes_reduced;
  m.comm_exposed_seconds.Increment(sync.exposed_seconds - sync_exposed_);
  sync_exposed_ = sync.exposed_seconds;
  // Each bucket all-reduce since the last window (the latest ones, if more than GradSync keeps).
  const auto& recent = sync.recent_allreduce_seconds;
  const size_t fresh = static_cast<size_t>(std::min<uint64_t>(
      sync.allreduces_timed - sync_allreduces_, static_cast<uint64_t>(recent.size())));
  for (size_t i = recent.size() - fresh; i < recent.size(); ++i)
    m.allreduce_seconds.Observe(recent[i]);
  sync_allreduces_ = sync.allreduces_timed;
  m.updateProcessMetrics();
}

void RunMetrics::evaluation(const eval::VerificationReport& r) {
  auto& m = monitor_->metrics();
  m.evalAccuracy(r.name).Set(r.metrics.accuracy_mean);
  for (const auto& t : r.metrics.tar_at_far) {
    if (t.measurable) m.evalTar(r.name, t.far).Set(t.tar);
  }
}

void RunMetrics::checkpointOutcome(const checkpoint::SaveOutcome& o) {
  auto& m = monitor_->metrics();
  if (o.failed()) {
    m.checkpoint_failures.Increment();
    return;
  }
  if (!o.committed()) return;
  m.checkpoint_seconds.Set(o.write_seconds + o.commit_seconds);
  m.checkpoint_bytes.Set(static_cast<double>(o.bytes));
  m.checkpoint_last_success.Set(unixNow());
}

}  // namespace l2face::trainer
