// Metrics in the shape of prometheus-cpp: Counter, Gauge, Histogram, labelled Families, Registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace l2face::monitoring {

using Labels = std::map<std::string, std::string>;

class MetricsError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class MetricType { kCounter, kGauge, kHistogram };

// A double updated with atomics (a CAS loop on the bit pattern), so that an update costs a few
// nanoseconds and never takes a lock. All methods thread-safe.
class AtomicDouble {
 public:
  explicit AtomicDouble(double v = 0) : bits_(toBits(v)) {}
  double load() const { return fromBits(bits_.load(std::memory_order_relaxed)); }
  void store(double v) { bits_.store(toBits(v), std::memory_order_relaxed); }
  void add(double d);

 private:
  static uint64_t toBits(double v);
  static double fromBits(uint64_t b);
  std::atomic<uint64_t> bits_;
};

// Monotonic counter. Thread-safe.
class Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;
  void Increment(double by = 1.0);  // by < 0 throws MetricsError
  double Value() const { return value_.load(); }

 private:
  AtomicDouble value_;
};

// A value that goes up and down. Thread-safe.
class Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;
  void Set(double v) { value_.store(v); }
  void Increment(double by = 1.0) { value_.add(by); }
  void Decrement(double by = 1.0) { value_.add(-by); }
  void SetToCurrentTime();
  double Value() const { return value_.load(); }

 private:
  AtomicDouble value_;
};

// Cumulative histogram with fixed upper bounds (+Inf implicit). Thread-safe.
class Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;
  using BucketBoundaries = std::vector<double>;
  explicit Histogram(BucketBoundaries bounds);  // strictly increasing, finite
  void Observe(double v);
  const BucketBoundaries& Bounds() const { return bounds_; }
  // Per-bucket (non-cumulative) counts, the last one for +Inf; sum; count.
  std::vector<uint64_t> BucketCounts() const;
  double Sum() const { return sum_.load(); }
  uint64_t Count() const;

  // Exponential bounds start, start·factor, … (count values).
  static BucketBoundaries ExponentialBuckets(double start, double factor, int count);

 private:
  BucketBoundaries bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  AtomicDouble sum_;
};

// The part of a family the serializer needs, independent of the metric type.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Labels constant_labels, MetricType type);
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  // Appends this family in text exposition format 0.0.4.
  virtual void serialize(std::string& out) const = 0;

 protected:
  Labels merged(const Labels& labels) const;
  std::string name_, help_;
  Labels constant_labels_;
  MetricType type_;
  mutable std::mutex mutex_;  // guards the metric map, not the values
};

// All metrics of one name, one per label set. Add() returns a reference that stays valid for the
// family's lifetime; callers cache it (the lookup takes a lock, updates do not). Thread-safe.
template <typename T>
class Family : public FamilyBase {
 public:
  Family(std::string name, std::string help, Labels constant_labels)
      : FamilyBase(std::move(name), std::move(help), std::move(constant_labels), T::kType) {}

  template <typename... Args>
  T& Add(const Labels& labels, Args&&... args);
  void serialize(std::string& out) const override;

 private:
  std::map<Labels, std::unique_ptr<T>> metrics_;
};

// Owns families; Collect/Serialize from any thread. Thread-safe.
class Registry {
 public:
  // Throws MetricsError for a name registered twice with another type or help.
  template <typename T>
  Family<T>& AddFamily(const std::string& name, const std::string& help, const Labels& constant);
  std::string Serialize() const;  // the whole registry, text format 0.0.4

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

// prometheus-cpp style builders: BuildCounter().Name("x_total").Help("...").Labels({..}).Register(r)
template <typename T>
class Builder {
 public:
  Builder& Name(const std::string& n) { name_ = n; return *this; }
  Builder& Help(const std::string& h) { help_ = h; return *this; }
  Builder& Labels(const monitoring::Labels& l) { labels_ = l; return *this; }
  Family<T>& Register(Registry& r) { return r.AddFamily<T>(name_, help_, labels_); }

 private:
  std::string name_, help_;
  monitoring::Labels labels_;
};

inline Builder<Counter> BuildCounter() { return {}; }
inline Builder<Gauge> BuildGauge() { return {}; }
inline Builder<Histogram> BuildHistogram() { return {}; }

// Validation and escaping, public for tests and for the exposer.
bool validMetricName(const std::string& name);
bool validLabelName(const std::string& name);
std::string escapeHelp(const std::string& help);
std::string escapeLabelValue(const std::string& value);
std::string formatValue(double v);  // Go-style: +Inf, -Inf, NaN, shortest round-trip otherwise
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace l2face::monitoring

#include "l2face/monitoring/metrics_impl.h"
