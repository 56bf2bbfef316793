#pragma once

// Prometheus metrics of the server, rendered as text for GET /metrics.
// Per-version counters are created once and never removed (Prometheus expects
// counters to persist), so a request updates them without a lookup.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace skiff::serve {

class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};
  // Rows per engine run.
  static constexpr std::array<double, 11> kSizeBounds = {1,  2,   4,   8,   16,  32,
                                                         64, 128, 256, 512, 1024};
  // Seconds by default; `bounds` must outlive the histogram (a static array).
  explicit Histogram(std::span<const double> bounds = kBounds)
      : bounds_(bounds), buckets_(bounds.size() + 1) {}
  void observe(double value);
  // Appends the _bucket, _sum and _count lines; `labels` is `a="x",b="y"`.
  void render(std::string& out, const std::string& name, const std::string& labels) const;
  uint64_t count() const;

 private:
  std::span<const double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;
  std::atomic<uint64_t> sumNanos_{0};  // the sum in units of 1e-9
};

struct VersionMetrics {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};
  Histogram requestSeconds;          // from the parsed request to the encoded response
  Histogram queueSeconds;            // waiting for a free session (and, batched, for a batch)
  Histogram inferenceSeconds;        // the engine alone
  std::atomic<uint64_t> batches{0};  // runs of dynamic batching
  std::atomic<uint64_t> batchedRequests{0};  // requests in them: / batches = mean batch size
  Histogram batchSize{
      Histogram::kSizeBounds};  // rows per engine run (models with a batch dimension)
};

class Metrics {
 public:
  VersionMetrics& version(const std::string& model, int64_t version);
  void countLoad(const std::string& model, int64_t version, bool succeeded);
  void countUnload(const std::string& model, int64_t version);
  void countResponse(int status);
  // `loadedVersions`: model name -> versions serving now.
  std::string render(const std::map<std::string, int>& loadedVersions) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int64_t>, std::unique_ptr<VersionMetrics>> versions_;
  std::map<std::string, uint64_t> loads_;  // label set -> count
  std::map<std::string, uint64_t> unloads_;
  std::map<int, uint64_t> responses_;
};

}  // namespace skiff::serve
