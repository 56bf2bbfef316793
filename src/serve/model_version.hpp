#pragma once

// One loaded version of a model: its signature and a pool of engine sessions.
// Requests hold a shared_ptr to it, so a version unloaded by a poll is freed
// only once its last in-flight request has finished.

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "serve/engine.hpp"
#include "serve/metrics.hpp"
#include "serve/tensor.hpp"

namespace skiff::serve {

// A problem with a request, answered with this HTTP status and message.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct LoadSettings {
  int instances = 1;         // parallel sessions
  int64_t maxBatchSize = 0;  // 0: no limit beyond the model's shapes
};

class ModelVersion {
 public:
  // Loads `file` into `settings.instances` sessions, warms each up, and checks
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
  // name (empty: all). Waits for a free session; thread-safe.
  std::vector<Tensor> infer(std::vector<Tensor> inputs,
                            const std::vector<std::string>& outputs = {}) const;

 private:
  ModelVersion(std::string model, int64_t version, Signature signature, int64_t maxBatchSize,
               VersionMetrics& metrics);
  std::vector<Tensor> run(const std::vector<Tensor>& inputs,
                          const std::vector<TensorSpec>& outputs) const;

  std::string model_;
  int64_t version_;
  Signature signature_;
  int64_t maxBatchSize_;
  VersionMetrics& metrics_;
  mutable std::mutex mutex_;
  mutable std::condition_variable released_;
  mutable std::vector<std::unique_ptr<Session>> idle_;
};

// Checks `inputs` against `signature` and returns them in its order.
// Throws RequestError(400) naming the tensor and what was expected.
std::vector<Tensor> checkInputs(const Signature& signature, std::vector<Tensor> inputs,
                                int64_t maxBatchSize);

}  // namespace skiff::serve
