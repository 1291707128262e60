// Registration of the training metrics with their help texts and histogram buckets.
#include "l2face/monitoring/training_metrics.h"

#include <unistd.h>

#include <fstream>

namespace l2face::monitoring {
namespace {

Counter& counter(Registry& r, const char* name, const char* help, const Labels& l) {
  return BuildCounter().Name(name).Help(help).Register(r).Add(l);
}
Gauge& gauge(Registry& r, const char* name, const char* help, const Labels& l) {
  return BuildGauge().Name(name).Help(help).Register(r).Add(l);
}
Histogram& histogram(Registry& r, const char* name, const char* help, const Labels& l,
                     Histogram::BucketBoundaries b) {
  return BuildHistogram().Name(name).Help(help).Register(r).Add(l, std::move(b));
}

// 1 ms … ~65 s in factors of 2: step times from tiny CPU nets to large GPU steps.
Histogram::BucketBoundaries secondsBuckets() {
  return Histogram::ExponentialBuckets(0.001, 2, 17);
}

}  // namespace

TrainingMetrics::TrainingMetrics(std::shared_ptr<Registry> r, const std::string& job, int rank,
                                 const std::string& host)
    : registry_(std::move(r)),
      labels_{{"job", job}, {"rank", std::to_string(rank)}, {"host", host}},
      steps(counter(*registry_, "l2face_steps_total", "Optimizer steps completed", labels_)),
      samples(counter(*registry_, "l2face_samples_total", "Training samples processed by this rank", labels_)),
      total_steps(gauge(*registry_, "l2face_total_steps", "Steps the run is configured for", labels_)),
      epoch(gauge(*registry_, "l2face_epoch", "Current epoch", labels_)),
      loss(gauge(*registry_, "l2face_loss", "Training loss, mean of the last logging window", labels_)),
      train_accuracy(gauge(*registry_, "l2face_train_accuracy", "Training accuracy of the last logging window", labels_)),
      alpha(gauge(*registry_, "l2face_alpha", "Radius alpha of the L2-constrained features (0: unconstrained)", labels_)),
      learning_rate(gauge(*registry_, "l2face_learning_rate", "Learning rate of the last step", labels_)),
      last_step_time(gauge(*registry_, "l2face_last_step_timestamp_seconds", "Unix time of the last completed step", labels_)),
      step_seconds(histogram(*registry_, "l2face_step_seconds", "Wall time of a training step, data wait included", labels_, secondsBuckets())),
      data_wait_seconds(histogram(*registry_, "l2face_data_wait_seconds", "Time a step waited for its batch", labels_, secondsBuckets())),
      queue_depth(gauge(*registry_, "l2face_loader_queue_depth", "Ready batches waiting in the loader queue", labels_)),
      decode_errors(counter(*registry_, "l2face_decode_errors_total", "Undecodable samples replaced by the loader", labels_)),
      allreduce_seconds(histogram(*registry_, "l2face_allreduce_seconds", "Duration of gradient all-reduces", labels_, secondsBuckets())),
      allreduce_bytes(counter(*registry_, "l2face_allreduce_bytes_total", "Bytes all-reduced", labels_)),
      comm_exposed_seconds(counter(*registry_, "l2face_comm_exposed_seconds_total",
                                   "Communication time not hidden behind computation", labels_)),
      classifier_shard_classes(gauge(*registry_, "l2face_classifier_shard_classes", "Classes held by this rank", labels_)),
      restarts(counter(*registry_, "l2face_restarts_total", "Restarts of this job by the elastic supervisor", labels_)),
      world_size(gauge(*registry_, "l2face_world_size", "Ranks of the current run", labels_)),
      global_batch(gauge(*registry_, "l2face_global_batch", "Images per optimizer step over all ranks", labels_)),
      checkpoint_seconds(gauge(*registry_, "l2face_checkpoint_duration_seconds", "Duration of the last checkpoint save", labels_)),
      checkpoint_bytes(gauge(*registry_, "l2face_checkpoint_bytes", "Bytes written by the last checkpoint save", labels_)),
      checkpoint_last_success(gauge(*registry_, "l2face_checkpoint_last_success_timestamp_seconds",
                                    "Unix time of the last committed checkpoint", labels_)),
      checkpoint_failures(counter(*registry_, "l2face_checkpoint_failures_total", "Checkpoint saves that failed", labels_)),
      nan_steps_skipped(counter(*registry_, "l2face_nan_steps_skipped_total", "Steps skipped for a non-finite loss", labels_)),
      resident_memory(gauge(*registry_, "l2face_process_resident_memory_bytes", "Resident memory of the process", labels_)),
      device_memory(gauge(*registry_, "l2face_device_memory_allocated_bytes", "Device memory allocated (CUDA)", labels_)) {
  eval_accuracy_ = &BuildGauge().Name("l2face_eval_accuracy").Help("Verification k-fold accuracy").Register(*registry_);
  eval_tar_ = &BuildGauge().Name("l2face_eval_tar").Help("Verification TAR at a FAR").Register(*registry_);
}

Gauge& TrainingMetrics::evalAccuracy(const std::string& set) {
  Labels l = labels_;
  l["set"] = set;
  return eval_accuracy_->Add(l);
}

Gauge& TrainingMetrics::evalTar(const std::string& set, double far) {
  Labels l = labels_;
  l["set"] = set;
  l["far"] = formatValue(far);
  return eval_tar_->Add(l);
}

void TrainingMetrics::updateProcessMetrics() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  if (statm >> pages_total >> pages_resident) {
    resident_memory.Set(static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
  }
}

}  // namespace l2face::monitoring
