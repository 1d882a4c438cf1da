#include "gateway/diag/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tailgate {
namespace {

void AppendEscapedLabelValue(std::string* out, const std::string& v) {
  for (char c : v) {
    if (c == '\\') out->append("\\\\");
    else if (c == '"') out->append("\\\"");
    else if (c == '\n') out->append("\\n");
    else out->push_back(c);
  }
}

void AppendHelp(std::string* out, const std::string& help) {
  for (char c : help) {
    if (c == '\\') out->append("\\\\");
    else if (c == '\n') out->append("\\n");
    else out->push_back(c);
  }
}

void AppendLabels(std::string* out, const Labels& labels, const char* extra_name = nullptr,
                  const std::string& extra_value = "") {
  if (labels.empty() && extra_name == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(k).append("=\"");
    AppendEscapedLabelValue(out, v);
    out->push_back('"');
  }
  if (extra_name != nullptr) {
    if (!first) out->push_back(',');
    out->append(extra_name).append("=\"").append(extra_value).push_back('"');
  }
  out->push_back('}');
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integers print exactly up to 2^53: ids (which start above the creation
  // time in microseconds, ~1.8e15) must not lose their last digits.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  if (value > 0) {
    sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(value * 1e6)),
                          std::memory_order_relaxed);
  }
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(const std::string& name, Type type,
                                                    const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  } else if (it->second.type != type) {
    // A programming error: one name, two types would render an invalid exposition.
    std::fprintf(stderr, "metric %s registered with two types\n", name.c_str());
    std::abort();
  }
  return it->second;
}

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = FamilyFor(name, Type::kCounter, help).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = FamilyFor(name, Type::kGauge, help).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& bounds,
                                         const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = FamilyFor(name, Type::kHistogram, help).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return slot.get();
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help,
                                       std::function<double()> fn) {
  AddCallbackGaugeFamily(name, help, [fn = std::move(fn)] {
    return std::vector<std::pair<Labels, double>>{{Labels{}, fn()}};
  });
}

void MetricsRegistry::AddCallbackGaugeFamily(
    const std::string& name, const std::string& help,
    std::function<std::vector<std::pair<Labels, double>>()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  FamilyFor(name, Type::kGauge, help).callback = std::move(fn);
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.reserve(16 * 1024);
  for (const auto& [name, f] : families_) {
    out.append("# HELP ").append(name).push_back(' ');
    AppendHelp(&out, f.help);
    out.append("\n# TYPE ").append(name);
    out.append(f.type == Type::kCounter ? " counter\n"
               : f.type == Type::kGauge ? " gauge\n"
                                        : " histogram\n");
    for (const auto& [labels, c] : f.counters) {
      out.append(name);
      AppendLabels(&out, labels);
      out.append(" ").append(std::to_string(c->value())).push_back('\n');
    }
    for (const auto& [labels, g] : f.gauges) {
      out.append(name);
      AppendLabels(&out, labels);
      out.append(" ").append(std::to_string(g->value())).push_back('\n');
    }
    if (f.callback) {
      for (const auto& [labels, v] : f.callback()) {
        out.append(name);
        AppendLabels(&out, labels);
        out.append(" ").append(FormatDouble(v)).push_back('\n');
      }
    }
    for (const auto& [labels, h] : f.histograms) {
      const Histogram::Snapshot s = h->Take();
      for (size_t i = 0; i <= h->bounds().size(); ++i) {
        out.append(name).append("_bucket");
        AppendLabels(&out, labels, "le",
                     i < h->bounds().size() ? FormatDouble(h->bounds()[i]) : "+Inf");
        out.append(" ").append(std::to_string(s.cumulative[i])).push_back('\n');
      }
      out.append(name).append("_sum");
      AppendLabels(&out, labels);
      out.append(" ").append(FormatDouble(s.sum)).push_back('\n');
      out.append(name).append("_count");
      AppendLabels(&out, labels);
      out.append(" ").append(std::to_string(s.count)).push_back('\n');
    }
  }
  return out;
}

}  // namespace tailgate
