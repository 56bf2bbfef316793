#include "serve/model_version.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "serve/onnx_signature.hpp"

namespace skiff::serve {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string names(const std::vector<TensorSpec>& tensors) {
  std::string text;
  for (const TensorSpec& tensor : tensors) {
    text += (text.empty() ? "'" : ", '") + tensor.name + "' " + formatShape(tensor.shape);
  }
  return text;
}

// Engines may drop or add unit dimensions; the declared rank wins when the
// element count allows it (its one dynamic dimension takes the rest).
void applyDeclaredShape(Tensor& tensor, const Shape& declared) {
  if (declared.empty() || declared.size() == tensor.shape.size()) return;
  int64_t known = 1;
  int dynamic = 0;
  for (const int64_t dimension : declared) {
    if (dimension < 0) {
      ++dynamic;
    } else {
      known *= dimension;
    }
  }
  const auto total = static_cast<int64_t>(tensor.data.size());
  if (dynamic > 1 || known == 0 || total % known != 0 || (dynamic == 0 && known != total)) return;
  tensor.shape = declared;
  for (int64_t& dimension : tensor.shape) {
    if (dimension < 0) dimension = total / known;
  }
}

// Deterministic inputs for the load-time checks: `batch` rows of varied values.
std::vector<Tensor> probeInputs(const Signature& signature, int64_t batch) {
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : signature.inputs) {
    Tensor tensor{spec.name, spec.shape, {}};
    for (size_t d = 0; d < tensor.shape.size(); ++d) {
      if (tensor.shape[d] < 0) tensor.shape[d] = d == 0 ? batch : 1;
    }
    const int64_t count = elementCount(tensor.shape);
    if (count < 0) throw Error("input '" + spec.name + "' has an invalid shape");
    tensor.data.resize(static_cast<size_t>(count));
    for (size_t i = 0; i < tensor.data.size(); ++i) {
      tensor.data[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i) + 0.3));
    }
    inputs.push_back(std::move(tensor));
  }
  return inputs;
}

bool hasBatchDimension(const Signature& signature) {
  for (const auto* list : {&signature.inputs, &signature.outputs}) {
    for (const TensorSpec& tensor : *list) {
      if (tensor.shape.empty() || tensor.shape[0] >= 0) return false;
      for (size_t d = 1; d < tensor.shape.size(); ++d) {
        if (tensor.shape[d] < 0) return false;
      }
    }
  }
  return true;
}

void checkFinite(const std::vector<Tensor>& outputs, size_t expected) {
  if (outputs.size() != expected) {
    throw Error(fmt::format("the engine returned {} outputs, the model declares {}", outputs.size(),
                            expected));
  }
  for (const Tensor& output : outputs) {
    for (const float value : output.data) {
      if (!std::isfinite(value)) {
        throw Error("output '" + output.name + "' is not finite on the warm-up input");
      }
    }
  }
}

}  // namespace

std::vector<Tensor> checkInputs(const Signature& signature, std::vector<Tensor> inputs,
                                int64_t maxBatchSize) {
  std::vector<Tensor> ordered;
  ordered.reserve(signature.inputs.size());
  for (const TensorSpec& spec : signature.inputs) {
    auto given = std::find_if(inputs.begin(), inputs.end(),
                              [&](const Tensor& tensor) { return tensor.name == spec.name; });
    if (given == inputs.end()) {
      throw RequestError(400, fmt::format("input '{}' is missing; the model takes {}", spec.name,
                                          names(signature.inputs)));
    }
    if (!shapeMatches(spec.shape, given->shape)) {
      throw RequestError(400, fmt::format("input '{}': expected shape {}, given {}", spec.name,
                                          formatShape(spec.shape), formatShape(given->shape)));
    }
    const int64_t count = elementCount(given->shape);
    if (count < 0 || static_cast<uint64_t>(count) != given->data.size()) {
      throw RequestError(400,
                         fmt::format("input '{}': shape {} needs {} values, given {}", spec.name,
                                     formatShape(given->shape), count, given->data.size()));
    }
    if (maxBatchSize > 0 && !given->shape.empty() && given->shape[0] > maxBatchSize) {
      throw RequestError(400, fmt::format("input '{}': batch of {} is above the model's "
                                          "max_batch_size {}",
                                          spec.name, given->shape[0], maxBatchSize));
    }
    ordered.push_back(std::move(*given));
    inputs.erase(given);
  }
  if (!inputs.empty()) {
    throw RequestError(400, fmt::format("unknown input '{}'; the model takes {}",
                                        inputs.front().name, names(signature.inputs)));
  }
  return ordered;
}

ModelVersion::ModelVersion(std::string model, int64_t version, Signature signature,
                           int64_t maxBatchSize, VersionMetrics& metrics)
    : model_(std::move(model)),
      version_(version),
      signature_(std::move(signature)),
      maxBatchSize_(maxBatchSize),
      metrics_(metrics) {}

std::shared_ptr<ModelVersion> ModelVersion::load(Engine& engine, const std::string& model,
                                                 int64_t version, const std::filesystem::path& file,
                                                 const LoadSettings& settings,
                                                 VersionMetrics& metrics) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw Error("cannot read the cached model file", file.string());
  std::stringstream bytes;
  bytes << stream.rdbuf();
  Signature signature = readOnnxSignature(bytes.str(), file.string());
  std::shared_ptr<ModelVersion> loaded(
      new ModelVersion(model, version, signature, settings.maxBatchSize, metrics));
  const std::vector<Tensor> single = probeInputs(signature, 1);
  std::vector<Tensor> reference;
  for (int i = 0; i < std::max(settings.instances, 1); ++i) {
    std::unique_ptr<Session> session = engine.load(file, signature);
    reference = session->run(single, signature.outputs);  // warm-up
    checkFinite(reference, signature.outputs.size());
    loaded->idle_.push_back(std::move(session));
  }
  if (hasBatchDimension(signature)) {
    // Row 0 of a batch of 2 must equal the same row alone.
    const std::vector<Tensor> batched = loaded->run(probeInputs(signature, 2), signature.outputs);
    for (size_t o = 0; o < reference.size(); ++o) {
      const std::vector<float>& alone = reference[o].data;
      if (batched[o].data.size() != 2 * alone.size()) {
        throw Error(
            fmt::format("output '{}' has {} values for a batch of 2 and {} for one row; "
                        "the engine cannot batch this model",
                        reference[o].name, batched[o].data.size(), alone.size()));
      }
      for (size_t i = 0; i < alone.size(); ++i) {
        if (std::abs(alone[i] - batched[o].data[i]) > 1e-4f * std::max(1.0f, std::abs(alone[i]))) {
          throw Error(
              fmt::format("output '{}' differs between a row alone and the same row in a "
                          "batch; the engine runs this model wrongly",
                          reference[o].name));
        }
      }
    }
  }
  return loaded;
}

std::vector<Tensor> ModelVersion::run(const std::vector<Tensor>& inputs,
                                      const std::vector<TensorSpec>& outputs) const {
  const auto queued = Clock::now();
  std::unique_ptr<Session> session;
  {
    std::unique_lock lock(mutex_);
    released_.wait(lock, [&] { return !idle_.empty(); });
    session = std::move(idle_.back());
    idle_.pop_back();
  }
  metrics_.queueSeconds.observe(secondsSince(queued));
  const auto started = Clock::now();
  std::vector<Tensor> results;
  try {
    results = session->run(inputs, outputs);
  } catch (...) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(session));
    released_.notify_one();
    throw;
  }
  metrics_.inferenceSeconds.observe(secondsSince(started));
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(session));
  }
  released_.notify_one();
  for (size_t i = 0; i < results.size(); ++i) applyDeclaredShape(results[i], outputs[i].shape);
  return results;
}

std::vector<Tensor> ModelVersion::infer(std::vector<Tensor> inputs,
                                        const std::vector<std::string>& outputs) const {
  std::vector<Tensor> ordered = checkInputs(signature_, std::move(inputs), maxBatchSize_);
  std::vector<TensorSpec> wanted;
  if (outputs.empty()) {
    wanted = signature_.outputs;
  } else {
    for (const std::string& name : outputs) {
      auto spec = std::find_if(signature_.outputs.begin(), signature_.outputs.end(),
                               [&](const TensorSpec& output) { return output.name == name; });
      if (spec == signature_.outputs.end()) {
        throw RequestError(400, fmt::format("unknown output '{}'; the model gives {}", name,
                                            names(signature_.outputs)));
      }
      wanted.push_back(*spec);
    }
  }
  try {
    return run(ordered, wanted);
  } catch (const Error& e) {
    throw RequestError(500, e.what());
  }
}

}  // namespace skiff::serve
