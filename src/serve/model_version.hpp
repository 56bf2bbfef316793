#pragma once

// One loaded version of a model: its signature and the engine session that
// runs its requests.
// Requests hold a shared_ptr to it, so a version unloaded by a poll is freed
// only once its last in-flight request has finished.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "serve/engine.hpp"
#include "serve/metrics.hpp"
#include "serve/repository.hpp"
#include "serve/request_error.hpp"
#include "serve/tensor.hpp"

namespace skiff::serve {

struct LoadSettings {
  int concurrency = 0;  // requests that run at once; 0: no limit
  SessionSettings session;
  int64_t maxBatchSize = 0;                 // 0: no limit beyond the model's shapes
  std::optional<DynamicBatching> batching;  // needs maxBatchSize > 0
  // The batching is the server's default, not the model's own: a model
  // without a batch dimension then serves unbatched instead of failing.
  bool defaultBatching = false;
  std::vector<TensorOverride> inputs;  // config.yaml's refinements of the signature
  std::vector<TensorOverride> outputs;
};

class ModelVersion {
 public:
  // Loads `file` into a session (the ONNX signature with config.yaml's
  // overrides applied and checked), warms it up, and checks
  // that a row gives the same result alone and in a batch (models with a
  // batch dimension). Throws skiff::Error with the reason when it cannot serve.
  static std::shared_ptr<ModelVersion> load(Engine& engine, const std::string& model,
                                            int64_t version, const std::filesystem::path& file,
                                            const LoadSettings& settings, VersionMetrics& metrics);

  const std::string& model() const { return model_; }
  int64_t version() const { return version_; }
  const Signature& signature() const { return signature_; }
  VersionMetrics& metrics() const { return metrics_; }

  // Checks `inputs` against the signature (RequestError 400 naming the tensor,
  // expected and given shape) and runs them; `outputs` selects outputs by
  // name (empty: all). Waits while `concurrency` requests run (with dynamic
  // batching, also for others to share one run with); thread-safe.
  std::vector<Tensor> infer(std::vector<Tensor> inputs,
                            const std::vector<std::string>& outputs = {}) const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Pending;  // a request waiting in the batch queue

  ModelVersion(std::string model, int64_t version, Signature signature,
               const LoadSettings& settings, VersionMetrics& metrics);
  // Runs on the session; `queued`: when the requests it serves arrived.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const std::vector<TensorSpec>& outputs,
                          std::span<const TimePoint> queued) const;
  std::vector<Tensor> runBatched(std::vector<Tensor> inputs,
                                 const std::vector<TensorSpec>& outputs) const;
  void runBatch(const std::vector<Pending*>& batch) const;
  // Hands each request of `batch` its part (or its error) and wakes them.
  void finishBatch(const std::vector<Pending*>& batch, std::vector<std::vector<Tensor>>& parts,
                   const std::vector<std::exception_ptr>& errors) const;

  std::string model_;
  int64_t version_;
  Signature signature_;
  int64_t maxBatchSize_;
  VersionMetrics& metrics_;
  std::unique_ptr<Session> session_;
  int concurrency_;
  mutable std::mutex mutex_;
  mutable std::condition_variable released_;
  mutable int running_ = 0;
  std::optional<DynamicBatching> batching_;
  mutable std::mutex queueMutex_;
  mutable std::deque<Pending*> queue_;
  mutable int64_t queuedRows_ = 0;     // the rows of the requests in queue_
  mutable Pending* leader_ = nullptr;  // the request gathering a batch
  mutable int batchesRunning_ = 0;     // batches handed to the engine and not yet done
  bool batchDimension_ = false;        // every tensor starts with a dynamic dimension
  int batchSlots_ = 1;  // batches that run before others wait: instances, or the cores
};

// Applies config.yaml's `inputs`/`outputs` to the signature read from the
// file. Throws skiff::Error when one names no tensor of the model or
// contradicts it (another data type, rank or fixed dimension).
void applyOverrides(Signature& signature, const std::vector<TensorOverride>& inputs,
                    const std::vector<TensorOverride>& outputs);

// Checks `inputs` against `signature` and returns them in its order.
// Throws RequestError(400) naming the tensor and what was expected.
std::vector<Tensor> checkInputs(const Signature& signature, std::vector<Tensor> inputs,
                                int64_t maxBatchSize);

}  // namespace skiff::serve
