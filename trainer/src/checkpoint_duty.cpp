// CheckpointDuty: scheduling, snapshots, commits and outcomes of a run's checkpoints.
#include "checkpoint_duty.h"

#include <csignal>
#include <iostream>

#include "l2face/trainer/internal/model_state.h"
#include "l2face/trainer/internal/precision.h"

namespace l2face::trainer {
namespace {

checkpoint::AsyncCheckpointOptions writerOptions(const TrainerOptions& opt) {
  checkpoint::AsyncCheckpointOptions o;
  o.commit.retention = {opt.checkpoint.keep_last, opt.checkpoint.keep_every};
  o.commit.faults = opt.faults;
  o.failures_fatal = opt.checkpoint.fail_on_error;
  return o;
}

}  // namespace

CheckpointDuty::CheckpointDuty(const TrainerOptions& opt, const comm::RunContext& ctx,
                               comm::Communicator& control, const ModelGeometry& geo, TrainModel& m,
                               Optimizer& optimizer, RunMetrics& metrics, RunConsole& console,
                               int64_t resumed_step)
    : opt_(opt),
      ctx_(ctx),
      control_(control),
      geo_(geo),
      m_(m),
      optimizer_(optimizer),
      metrics_(metrics),
      console_(console),
      writer_(opt.run.dir, writerOptions(opt)),
      schedule_(opt.checkpoint.every_steps, opt.checkpoint.every_seconds),
      last_saved_(resumed_step),
      last_committed_(resumed_step) {}

void CheckpointDuty::record(const checkpoint::SaveOutcome& o) {
  metrics_.checkpointOutcome(o);
  if (o.committed()) {
    committed_dir_ = o.dir.string();
    last_committed_ = o.step;
    if (opt_.faults.has("train.kill_after_save", ctx_.rank, o.step)) {
      std::cerr << "[l2face] injected fault train.kill_after_save at step " << o.step << "\n";
      std::raise(SIGKILL);  // a real crash right after a committed save (exact-resume tests)
    }
  } else if (o.failed()) {
    console_.say("[l2face] error: " + o.error +
                 " (training continues; the previous checkpoint stays current)\n");
  }
}

void CheckpointDuty::poll() {
  if (writer_.pending()) record(writer_.poll(control_));
}

void CheckpointDuty::finish() { record(writer_.finish(control_)); }

// Skipped steps keep NaN out of the parameters, but BatchNorm statistics or a diverging run can
// still go non-finite: such state must never become the checkpoint a resume trusts. Every rank
// refuses alike.
void CheckpointDuty::refuseNonFinite(int64_t step) {
  bool finite = allFinite(*m_.backbone) && allFinite(*m_.head);
  if (finite && m_.classifier) finite = m_.classifier->weight().isfinite().all().item<bool>();
  int32_t bad = finite ? 0 : 1;
  if (control_.size() > 1) control_.allReduce(&bad, 1, comm::DType::kInt32, comm::ReduceOp::kMax);
  if (bad) {
    throw TrainError("refusing to save the checkpoint of step " + std::to_string(step) + " in " +
                     opt_.run.dir + ": the model holds NaN/Inf values (diverged training; " +
                     "lower optim.lr or set optim.clip_grad_norm)");
  }
}

void CheckpointDuty::save(const RunPosition& pos, bool wait) {
  finish();  // the next save waits for the previous one
  refuseNonFinite(pos.step);
  nlohmann::json meta =
      checkpointMeta(geo_, opt_.optim.type, opt_.config_digest, m_, pos, control_.size());
  writer_.begin(control_, pos.step, snapshotJobs(m_, optimizer_, ctx_.rank), std::move(meta));
  last_saved_ = pos.step;
  if (wait || !opt_.checkpoint.async) finish();
}

void CheckpointDuty::saveFinal(const RunPosition& pos) {
  if (last_saved_ != pos.step) {
    save(pos, /*wait=*/true);
    if (last_committed_ != pos.step) {
      throw TrainError("the final checkpoint (step " + std::to_string(pos.step) +
                       ") could not be saved in " + opt_.run.dir + "; the newest saved one is " +
                       (committed_dir_.empty() ? std::string("none") : committed_dir_));
    }
  }
  finish();
}

}  // namespace l2face::trainer
