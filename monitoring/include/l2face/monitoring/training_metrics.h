// TrainingMetrics: every metric a training rank exports, registered once with job/rank/host labels.
#pragma once

#include <memory>
#include <string>

#include "l2face/monitoring/metrics.h"

namespace l2face::monitoring {

// Handles into one Registry, cached so that updates on the step boundary are atomics only.
// Names are documented in docs/monitoring.md; cluster/monitoring's alerts and dashboard use them.
// Thread-safe (every handle is).
class TrainingMetrics {
  // Declared first: initialised before the handles below, which are registered with them.
  std::shared_ptr<Registry> registry_;
  Labels labels_;

 public:
  TrainingMetrics(std::shared_ptr<Registry> registry, const std::string& job, int rank,
                  const std::string& host);

  std::shared_ptr<Registry> registry() const { return registry_; }

  Counter& steps;              // l2face_steps_total
  Counter& samples;            // l2face_samples_total (this rank's samples)
  Gauge& total_steps;          // l2face_total_steps
  Gauge& epoch;                // l2face_epoch
  Gauge& loss;                 // l2face_loss (mean of the last logging window)
  Gauge& train_accuracy;       // l2face_train_accuracy
  Gauge& alpha;                // l2face_alpha
  Gauge& learning_rate;        // l2face_learning_rate
  Gauge& last_step_time;       // l2face_last_step_timestamp_seconds
  Histogram& step_seconds;     // l2face_step_seconds
  Histogram& data_wait_seconds;  // l2face_data_wait_seconds
  Gauge& queue_depth;          // l2face_loader_queue_depth
  Counter& decode_errors;      // l2face_decode_errors_total
  Histogram& allreduce_seconds;  // l2face_allreduce_seconds
  Counter& allreduce_bytes;    // l2face_allreduce_bytes_total
  Counter& comm_exposed_seconds;  // l2face_comm_exposed_seconds_total
  Gauge& classifier_shard_classes;  // l2face_classifier_shard_classes
  Counter& restarts;           // l2face_restarts_total (by the elastic supervisor; set at start)
  Gauge& world_size;           // l2face_world_size
  Gauge& global_batch;         // l2face_global_batch (images per optimizer step, all ranks)
  Gauge& checkpoint_seconds;   // l2face_checkpoint_duration_seconds (last save)
  Gauge& checkpoint_bytes;     // l2face_checkpoint_bytes (last save)
  Gauge& checkpoint_last_success;  // l2face_checkpoint_last_success_timestamp_seconds
  Counter& checkpoint_failures;    // l2face_checkpoint_failures_total
  Counter& nan_steps_skipped;  // l2face_nan_steps_skipped_total
  Gauge& resident_memory;      // l2face_process_resident_memory_bytes
  Gauge& device_memory;        // l2face_device_memory_allocated_bytes (reserved; not set yet)

  // l2face_eval_accuracy{set=...} and l2face_eval_tar{set=...,far=...}.
  Gauge& evalAccuracy(const std::string& set);
  Gauge& evalTar(const std::string& set, double far);

  // Reads /proc/self/statm into resident_memory.
  void updateProcessMetrics();

 private:
  Family<Gauge>* eval_accuracy_;
  Family<Gauge>* eval_tar_;
};

}  // namespace l2face::monitoring
