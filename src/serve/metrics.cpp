#include "serve/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace skiff::serve {
namespace {

// Label values escaped as the text format wants (backslash, quote, newline).
std::string labelValue(const std::string& value) {
  std::string escaped;
  for (const char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    escaped += c == '\n' ? 'n' : c;
  }
  return escaped;
}

std::string versionLabels(const std::string& model, int64_t version) {
  return fmt::format("model=\"{}\",version=\"{}\"", labelValue(model), version);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void Histogram::observe(double value) {
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[static_cast<size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  sumNanos_.fetch_add(static_cast<uint64_t>(std::max(value, 0.0) * 1e9), std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (const auto& bucket : buckets_) total += bucket.load(std::memory_order_relaxed);
  return total;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string bound = i < bounds_.size() ? fmt::format("{}", bounds_[i]) : "+Inf";
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bound, cumulative);
  }
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels,
                     static_cast<double>(sumNanos_.load(std::memory_order_relaxed)) / 1e9);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, cumulative);
}

VersionMetrics& Metrics::version(const std::string& model, int64_t version) {
  std::lock_guard lock(mutex_);
  auto& slot = versions_[{model, version}];
  if (!slot) slot = std::make_unique<VersionMetrics>();
  return *slot;
}

void Metrics::countLoad(const std::string& model, int64_t version, bool succeeded) {
  std::lock_guard lock(mutex_);
  ++loads_[versionLabels(model, version) +
           fmt::format(",result=\"{}\"", succeeded ? "success" : "failure")];
}

void Metrics::countUnload(const std::string& model, int64_t version) {
  std::lock_guard lock(mutex_);
  ++unloads_[versionLabels(model, version)];
}

void Metrics::countResponse(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

std::string Metrics::render(const std::map<std::string, int>& loadedVersions) const {
  std::lock_guard lock(mutex_);
  std::string out;
  header(out, "skiff_serve_http_responses_total", "counter", "HTTP responses by status code");
  for (const auto& [status, count] : responses_) {
    out += fmt::format("skiff_serve_http_responses_total{{code=\"{}\"}} {}\n", status, count);
  }
  header(out, "skiff_serve_inference_requests_total", "counter",
         "Inference requests that reached a model version");
  for (const auto& [key, entry] : versions_) {
    out += fmt::format("skiff_serve_inference_requests_total{{{}}} {}\n",
                       versionLabels(key.first, key.second), entry->requests.load());
  }
  header(out, "skiff_serve_inference_failures_total", "counter",
         "Inference requests answered with an error");
  for (const auto& [key, entry] : versions_) {
    out += fmt::format("skiff_serve_inference_failures_total{{{}}} {}\n",
                       versionLabels(key.first, key.second), entry->failures.load());
  }
  const std::pair<const char*, std::atomic<uint64_t> VersionMetrics::*> batchCounters[] = {
      {"skiff_serve_batches_total", &VersionMetrics::batches},
      {"skiff_serve_batched_requests_total", &VersionMetrics::batchedRequests}};
  for (const auto& [name, member] : batchCounters) {
    header(out, name, "counter", "Dynamic batching: engine runs, and the requests they served");
    for (const auto& [key, entry] : versions_) {
      out += fmt::format("{}{{{}}} {}\n", name, versionLabels(key.first, key.second),
                         ((*entry).*member).load());
    }
  }
  const std::pair<const char*, Histogram VersionMetrics::*> histograms[] = {
      {"skiff_serve_request_duration_seconds", &VersionMetrics::requestSeconds},
      {"skiff_serve_queue_duration_seconds", &VersionMetrics::queueSeconds},
      {"skiff_serve_inference_duration_seconds", &VersionMetrics::inferenceSeconds}};
  for (const auto& [name, member] : histograms) {
    header(out, name, "histogram", "Seconds per inference request (request, queue, engine)");
    for (const auto& [key, entry] : versions_) {
      ((*entry).*member).render(out, name, versionLabels(key.first, key.second));
    }
  }
  header(out, "skiff_serve_batch_size", "histogram",
         "Rows per engine run (a batch of requests, or one request's own rows)");
  for (const auto& [key, entry] : versions_) {
    entry->batchSize.render(out, "skiff_serve_batch_size", versionLabels(key.first, key.second));
  }
  header(out, "skiff_serve_model_loads_total", "counter", "Model version loads by result");
  for (const auto& [labels, count] : loads_) {
    out += fmt::format("skiff_serve_model_loads_total{{{}}} {}\n", labels, count);
  }
  header(out, "skiff_serve_model_unloads_total", "counter", "Model versions unloaded");
  for (const auto& [labels, count] : unloads_) {
    out += fmt::format("skiff_serve_model_unloads_total{{{}}} {}\n", labels, count);
  }
  header(out, "skiff_serve_loaded_versions", "gauge", "Model versions serving now");
  for (const auto& [model, count] : loadedVersions) {
    out +=
        fmt::format("skiff_serve_loaded_versions{{model=\"{}\"}} {}\n", labelValue(model), count);
  }
  return out;
}

}  // namespace skiff::serve
