// Metric values (atomics), validation, escaping and the text exposition format 0.0.4.
#include "l2face/monitoring/metrics.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

namespace l2face::monitoring {

uint64_t AtomicDouble::toBits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

double AtomicDouble::fromBits(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

void AtomicDouble::add(double d) {
  uint64_t old = bits_.load(std::memory_order_relaxed);
  while (!bits_.compare_exchange_weak(old, toBits(fromBits(old) + d), std::memory_order_relaxed)) {
  }
}

void Counter::Increment(double by) {
  if (!(by >= 0)) throw MetricsError("a counter can only increase");
  value_.add(by);
}

void Gauge::SetToCurrentTime() {
  using namespace std::chrono;
  Set(duration<double>(system_clock::now().time_since_epoch()).count());
}

Histogram::Histogram(BucketBoundaries bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      throw MetricsError("histogram bounds must be finite and strictly increasing");
    }
  }
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  // First bucket whose upper bound is >= v (le semantics); NaN lands in +Inf.
  size_t i = 0;
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.add(v);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> c(bounds_.size() + 1);
  for (size_t i = 0; i < c.size(); ++i) c[i] = counts_[i].load(std::memory_order_relaxed);
  return c;
}

uint64_t Histogram::Count() const {
  uint64_t n = 0;
  for (uint64_t c : BucketCounts()) n += c;
  return n;
}

Histogram::BucketBoundaries Histogram::ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) throw MetricsError("bad exponential buckets");
  BucketBoundaries b;
  for (int i = 0; i < count; ++i) b.push_back(start * std::pow(factor, i));
  return b;
}

bool validMetricName(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool validLabelName(const std::string& n) {
  if (n.empty() || n.rfind("__", 0) == 0) return false;  // __ is reserved by Prometheus
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

namespace {
std::string escape(const std::string& s, bool quotes) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quotes && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

std::string escapeHelp(const std::string& help) { return escape(help, false); }
std::string escapeLabelValue(const std::string& value) { return escape(value, true); }

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

FamilyBase::FamilyBase(std::string name, std::string help, Labels constant_labels, MetricType type)
    : name_(std::move(name)), help_(std::move(help)), constant_labels_(std::move(constant_labels)),
      type_(type) {}

Labels FamilyBase::merged(const Labels& labels) const {
  Labels all = constant_labels_;
  for (const auto& [k, v] : labels) {
    if (all.count(k) != 0) {
      throw MetricsError("label '" + k + "' of metric '" + name_ + "' is also a constant label");
    }
    all[k] = v;
  }
  return all;
}

std::string Registry::Serialize() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& f : families_) f->serialize(out);
  return out;
}

namespace detail {

void checkLabels(const Labels& labels, const std::string& family) {
  for (const auto& [k, v] : labels) {
    if (!validLabelName(k) || (k == "le")) {
      throw MetricsError("invalid label name '" + k + "' for metric '" + family + "'");
    }
  }
}

void appendHeader(std::string& out, const FamilyBase& f) {
  static const char* kTypes[] = {"counter", "gauge", "histogram"};
  out += "# HELP " + f.name() + " " + escapeHelp(f.help()) + "\n";
  out += "# TYPE " + f.name() + " " + kTypes[static_cast<int>(f.type())] + "\n";
}

void appendSample(std::string& out, const std::string& name, const Labels& labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out += ',';
      first = false;
      out += k + "=\"" + escapeLabelValue(v) + "\"";
    }
    out += '}';
  }
  out += ' ';
  out += formatValue(value);
  out += '\n';
}

void appendHistogram(std::string& out, const std::string& name, const Labels& labels,
                     const Histogram& h) {
  std::vector<uint64_t> counts = h.BucketCounts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    Labels with_le = labels;
    with_le["le"] = i < h.Bounds().size() ? formatValue(h.Bounds()[i]) : "+Inf";
    appendSample(out, name + "_bucket", with_le, static_cast<double>(cumulative));
  }
  appendSample(out, name + "_sum", labels, h.Sum());
  appendSample(out, name + "_count", labels, static_cast<double>(cumulative));
}

}  // namespace detail
}  // namespace l2face::monitoring
