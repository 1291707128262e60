// Template parts of metrics.h: Family::Add, per-type serialization, Registry::AddFamily.
#pragma once

namespace l2face::monitoring {
namespace detail {

void appendSample(std::string& out, const std::string& name, const Labels& labels, double value);
void appendHeader(std::string& out, const FamilyBase& f);
void checkLabels(const Labels& labels, const std::string& family);
void appendHistogram(std::string& out, const std::string& name, const Labels& labels,
                     const Histogram& h);

}  // namespace detail

template <typename T>
template <typename... Args>
T& Family<T>::Add(const Labels& labels, Args&&... args) {
  detail::checkLabels(labels, name_);
  Labels all = merged(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = metrics_.find(all);
  if (it != metrics_.end()) return *it->second;
  auto metric = std::make_unique<T>(std::forward<Args>(args)...);
  T& ref = *metric;
  metrics_.emplace(std::move(all), std::move(metric));
  return ref;
}

template <typename T>
void Family<T>::serialize(std::string& out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (metrics_.empty()) return;
  detail::appendHeader(out, *this);
  for (const auto& [labels, metric] : metrics_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      detail::appendHistogram(out, name_, labels, *metric);
    } else {
      detail::appendSample(out, name_, labels, metric->Value());
    }
  }
}

template <typename T>
Family<T>& Registry::AddFamily(const std::string& name, const std::string& help,
                               const Labels& constant) {
  if (!validMetricName(name)) throw MetricsError("invalid metric name '" + name + "'");
  detail::checkLabels(constant, name);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& f : families_) {
    if (f->name() != name) continue;
    auto* same = dynamic_cast<Family<T>*>(f.get());
    if (same == nullptr || f->help() != help) {
      throw MetricsError("metric '" + name + "' is already registered with another type or help");
    }
    return *same;
  }
  families_.push_back(std::make_unique<Family<T>>(name, help, constant));
  return static_cast<Family<T>&>(*families_.back());
}

}  // namespace l2face::monitoring
