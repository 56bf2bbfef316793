#include "serve/model_version.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>

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
  const auto total = static_cast<int64_t>(tensor.size());
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
    Shape shape = spec.shape;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] < 0) shape[d] = d == 0 ? batch : 1;
    }
    const int64_t count = elementCount(shape);
    if (count < 0) throw Error("input '" + spec.name + "' has an invalid shape");
    const std::optional<DataType> type = parseDataType(spec.datatype);
    if (!type) {
      throw Error(fmt::format("input '{}' has data type {}, which no request can carry", spec.name,
                              spec.datatype),
                  "", "export the model with inputs of a KServe v2 type (FP32, INT64, ...)");
    }
    // Integers stay 0 and 1: valid indices for an Embedding, valid labels.
    std::vector<double> values(static_cast<size_t>(count));
    for (size_t i = 0; i < values.size(); ++i) {
      values[i] = isFloatingPoint(*type) ? std::sin(0.7 * static_cast<double>(i) + 0.3)
                                         : static_cast<double>(i % 2);
    }
    inputs.push_back(makeTensor(spec.name, *type, std::move(shape), values));
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

// Dynamic batching concatenates along dim 0: every tensor must start with a
// dynamic dimension.
bool batchable(const Signature& signature) {
  for (const auto* list : {&signature.inputs, &signature.outputs}) {
    for (const TensorSpec& tensor : *list) {
      if (tensor.shape.empty() || tensor.shape[0] >= 0) return false;
    }
  }
  return true;
}

// The server's default batching is for the models that can batch; one that
// cannot (no dynamic first dimension) serves as if none were set.
LoadSettings fitDefaultBatching(LoadSettings settings, const Signature& signature) {
  if (settings.defaultBatching && settings.batching && !batchable(signature)) {
    settings.batching.reset();
    settings.maxBatchSize = 0;
  }
  return settings;
}

void applyOverrides(std::vector<TensorSpec>& tensors, const std::vector<TensorOverride>& overrides,
                    const char* kind) {
  for (const TensorOverride& entry : overrides) {
    auto spec = std::find_if(tensors.begin(), tensors.end(),
                             [&](const TensorSpec& tensor) { return tensor.name == entry.name; });
    if (spec == tensors.end()) {
      throw Error(fmt::format("config.yaml {} '{}' is not an {} of the model, which has {} ({})",
                              kind, entry.name, kind, names(tensors), entry.where));
    }
    if (entry.datatype) {
      if (spec->datatype != "unknown" && spec->datatype != *entry.datatype) {
        throw Error(fmt::format("config.yaml {} '{}' has datatype {}, the model declares {} ({})",
                                kind, entry.name, *entry.datatype, spec->datatype, entry.where));
      }
      spec->datatype = *entry.datatype;
    }
    if (entry.shape) {
      // An override may fix dynamic dimensions, never change fixed ones.
      bool fits = spec->shape.empty() || spec->shape.size() == entry.shape->size();
      for (size_t d = 0; fits && !spec->shape.empty() && d < spec->shape.size(); ++d) {
        fits = spec->shape[d] < 0 || spec->shape[d] == (*entry.shape)[d];
      }
      if (!fits) {
        throw Error(fmt::format(
            "config.yaml {} '{}' has shape {}, which does not fit the "
            "model's {} ({})",
            kind, entry.name, formatShape(*entry.shape), formatShape(spec->shape), entry.where));
      }
      spec->shape = *entry.shape;
    }
  }
}

void checkFinite(const std::vector<Tensor>& outputs, size_t expected) {
  if (outputs.size() != expected) {
    throw Error(fmt::format("the engine returned {} outputs, the model declares {}", outputs.size(),
                            expected));
  }
  for (const Tensor& output : outputs) {
    if (!isFloatingPoint(output.type)) continue;
    for (size_t i = 0; i < output.size(); ++i) {
      if (!std::isfinite(output.number(i))) {
        throw Error("output '" + output.name + "' is not finite on the warm-up input");
      }
    }
  }
}

// Whether element `i` of `a` and element `j` of `b` agree (floats within a
// relative 1e-4: a batch may sum in another order).
bool sameElement(const Tensor& a, size_t i, const Tensor& b, size_t j) {
  if (a.type == DataType::kBytes) return a.strings[i] == b.strings[j];
  const double x = a.number(i);
  const double y = b.number(j);
  if (!isFloatingPoint(a.type)) return x == y;
  const double tolerance = a.type == DataType::kFp16 ? 1e-2 : 1e-4;
  return std::abs(x - y) <= tolerance * std::max(1.0, std::abs(x));
}

}  // namespace

void applyOverrides(Signature& signature, const std::vector<TensorOverride>& inputs,
                    const std::vector<TensorOverride>& outputs) {
  applyOverrides(signature.inputs, inputs, "input");
  applyOverrides(signature.outputs, outputs, "output");
}

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
    if (spec.datatype != dataTypeName(given->type)) {
      throw RequestError(400, fmt::format("input '{}': expected datatype {}, given {}", spec.name,
                                          spec.datatype, dataTypeName(given->type)));
    }
    if (!shapeMatches(spec.shape, given->shape)) {
      throw RequestError(400, fmt::format("input '{}': expected shape {}, given {}", spec.name,
                                          formatShape(spec.shape), formatShape(given->shape)));
    }
    const int64_t count = elementCount(given->shape);
    if (count < 0 || static_cast<uint64_t>(count) != given->size()) {
      throw RequestError(400,
                         fmt::format("input '{}': shape {} needs {} values, given {}", spec.name,
                                     formatShape(given->shape), count, given->size()));
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
                           const LoadSettings& settings, VersionMetrics& metrics)
    : model_(std::move(model)),
      version_(version),
      signature_(std::move(signature)),
      maxBatchSize_(settings.maxBatchSize),
      metrics_(metrics),
      concurrency_(settings.concurrency),
      batching_(settings.batching),
      batchDimension_(batchable(signature_)),
      batchSlots_(concurrency_ > 0
                      ? concurrency_
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {}

std::shared_ptr<ModelVersion> ModelVersion::load(Engine& engine, const std::string& model,
                                                 int64_t version, const std::filesystem::path& file,
                                                 const LoadSettings& requested,
                                                 VersionMetrics& metrics) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw Error("cannot read the cached model file", file.string());
  std::stringstream bytes;
  bytes << stream.rdbuf();
  Signature signature = readOnnxSignature(bytes.str(), file.string());
  applyOverrides(signature, requested.inputs, requested.outputs);
  const LoadSettings settings = fitDefaultBatching(requested, signature);
  if (settings.batching && (settings.maxBatchSize <= 0 || !batchable(signature))) {
    throw Error(fmt::format("dynamic_batching needs max_batch_size and a dynamic first (batch) "
                            "dimension on every input and output; the model takes {} and gives {}",
                            names(signature.inputs), names(signature.outputs)),
                "",
                "export the model with a dynamic first dimension, or turn dynamic_batching off");
  }
  std::shared_ptr<ModelVersion> loaded(
      new ModelVersion(model, version, signature, settings, metrics));
  loaded->session_ = engine.load(file, signature, settings.session);
  const std::vector<Tensor> reference =
      loaded->session_->run(probeInputs(signature, 1), signature.outputs);  // warm-up
  checkFinite(reference, signature.outputs.size());
  for (size_t o = 0; o < reference.size(); ++o) {
    // An output shape config.yaml declares must be what the engine gives.
    const TensorSpec& declared = signature.outputs[o];
    const bool overridden = std::any_of(
        settings.outputs.begin(), settings.outputs.end(),
        [&](const TensorOverride& entry) { return entry.name == declared.name && entry.shape; });
    if (!overridden) continue;
    Tensor shaped = reference[o];
    applyDeclaredShape(shaped, declared.shape);
    if (!shapeMatches(declared.shape, shaped.shape)) {
      throw Error(
          fmt::format("output '{}' has shape {} on the warm-up input; config.yaml "
                      "declares {}",
                      declared.name, formatShape(shaped.shape), formatShape(declared.shape)),
          "", "fix the output's shape in config.yaml");
    }
  }
  if (hasBatchDimension(signature)) {
    // Row 0 of a batch of 2 must equal the same row alone.
    const TimePoint now = Clock::now();
    const std::vector<Tensor> batched =
        loaded->run(probeInputs(signature, 2), signature.outputs, {&now, 1});
    for (size_t o = 0; o < reference.size(); ++o) {
      const Tensor& alone = reference[o];
      if (batched[o].size() != 2 * alone.size()) {
        throw Error(
            fmt::format("output '{}' has {} values for a batch of 2 and {} for one row; "
                        "the engine cannot batch this model",
                        alone.name, batched[o].size(), alone.size()));
      }
      for (size_t i = 0; i < alone.size(); ++i) {
        if (!sameElement(alone, i, batched[o], i)) {
          throw Error(
              fmt::format("output '{}' differs between a row alone and the same row in a "
                          "batch; the engine runs this model wrongly",
                          alone.name));
        }
      }
    }
  }
  return loaded;
}

std::vector<Tensor> ModelVersion::run(const std::vector<Tensor>& inputs,
                                      const std::vector<TensorSpec>& outputs,
                                      std::span<const TimePoint> queued) const {
  if (concurrency_ > 0) {
    std::unique_lock lock(mutex_);
    released_.wait(lock, [&] { return running_ < concurrency_; });
    ++running_;
  }
  const auto release = [&] {
    if (concurrency_ <= 0) return;
    {
      std::lock_guard lock(mutex_);
      --running_;
    }
    released_.notify_one();
  };
  for (const TimePoint arrived : queued) metrics_.queueSeconds.observe(secondsSince(arrived));
  if (batchDimension_ && !inputs.empty() && !inputs.front().shape.empty()) {
    metrics_.batchSize.observe(static_cast<double>(inputs.front().shape[0]));
  }
  const auto started = Clock::now();
  std::vector<Tensor> results;
  try {
    results = session_->run(inputs, outputs);
  } catch (...) {
    release();
    throw;
  }
  metrics_.inferenceSeconds.observe(secondsSince(started));
  release();
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
    if (batching_) return runBatched(std::move(ordered), wanted);
    const TimePoint now = Clock::now();
    return run(ordered, wanted, {&now, 1});
  } catch (const Error& e) {
    throw RequestError(500, e.what());
  }
}

struct ModelVersion::Pending {
  std::vector<Tensor> inputs;
  const std::vector<TensorSpec>* outputs = nullptr;
  int64_t rows = 0;
  TimePoint queued;
  std::vector<Tensor> results;
  std::exception_ptr error;
  bool alone = false;  // its inputs disagree on dim 0: merging would misalign rows
  bool done = false;
  // Each request sleeps on its own condition: a hand-off wakes the one
  // thread concerned, not every thread in the queue.
  std::condition_variable wake;
};

namespace {

// Requests share a run when they want the same outputs and their inputs
// differ in dim 0 alone.
bool mergeable(const std::vector<Tensor>& a, const std::vector<TensorSpec>& aOutputs,
               const std::vector<Tensor>& b, const std::vector<TensorSpec>& bOutputs) {
  if (aOutputs.size() != bOutputs.size() || a.size() != b.size()) return false;
  for (size_t o = 0; o < aOutputs.size(); ++o) {
    if (aOutputs[o].name != bOutputs[o].name) return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].shape.empty() || a[i].shape.size() != b[i].shape.size() ||
        !std::equal(a[i].shape.begin() + 1, a[i].shape.end(), b[i].shape.begin() + 1)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<Tensor> ModelVersion::runBatched(std::vector<Tensor> inputs,
                                             const std::vector<TensorSpec>& outputs) const {
  Pending self;
  self.rows = inputs.empty() || inputs.front().shape.empty() ? 1 : inputs.front().shape[0];
  for (const Tensor& input : inputs) {
    if (input.shape.empty() || input.shape[0] != self.rows) self.alone = true;
  }
  self.inputs = std::move(inputs);
  self.outputs = &outputs;
  self.queued = Clock::now();
  std::vector<Pending*> batch;
  const std::vector<int64_t>& preferred = batching_->preferredBatchSizes;
  const int64_t largest = preferred.empty() ? maxBatchSize_ : preferred.back();
  const auto full = [&](int64_t rows) {
    return rows >= largest ||
           std::find(preferred.begin(), preferred.end(), rows) != preferred.end();
  };
  {
    std::unique_lock lock(queueMutex_);
    queue_.push_back(&self);
    queuedRows_ += self.rows;
    // The leader learns of a batch that may be full; the other arrivals wait
    // for its deadline or a free engine (a wake-up per arrival would cost a
    // context switch each, more than the run they share on a small model).
    if (leader_ && full(queuedRows_)) leader_->wake.notify_one();
    // The oldest waiting request leads: it gathers a batch, hands the lead
    // on, and runs the batch; the others wait for their part of the result.
    self.wake.wait(lock, [&] { return self.done || (!leader_ && queue_.front() == &self); });
    if (self.done) {
      if (self.error) std::rethrow_exception(self.error);
      return std::move(self.results);
    }
    leader_ = &self;
    // The leader waits for others only while earlier batches keep the engine
    // busy (as many run as `instances`, or cores): otherwise it runs at once
    // (no added latency at low load).
    // The wait ends at a preferred size, at the largest one (max_batch_size
    // when none is set), when the engine frees up, or max_queue_delay after
    // the leader arrived.
    const TimePoint deadline = self.queued + batching_->maxQueueDelay;
    const auto gather = [&] {
      batch.assign(1, &self);
      int64_t rows = self.rows;
      for (Pending* pending : queue_) {
        if (pending == &self || self.alone || pending->alone ||
            rows + pending->rows > maxBatchSize_ ||
            !mergeable(self.inputs, outputs, pending->inputs, *pending->outputs)) {
          continue;
        }
        batch.push_back(pending);
        rows += pending->rows;
      }
      return rows;
    };
    while (!self.alone && batchesRunning_ >= batchSlots_ && !full(gather()) &&
           self.wake.wait_until(lock, deadline) != std::cv_status::timeout) {
    }
    gather();
    std::erase_if(queue_, [&](Pending* pending) {
      return std::find(batch.begin(), batch.end(), pending) != batch.end();
    });
    for (const Pending* pending : batch) queuedRows_ -= pending->rows;
    leader_ = nullptr;
    ++batchesRunning_;
    if (!queue_.empty()) queue_.front()->wake.notify_one();  // the next leader
  }
  runBatch(batch);
  if (self.error) std::rethrow_exception(self.error);
  return std::move(self.results);
}

void ModelVersion::runBatch(const std::vector<Pending*>& batch) const {
  std::vector<std::vector<Tensor>> parts(batch.size());
  std::exception_ptr error;
  try {
    std::vector<TimePoint> queued;
    for (const Pending* pending : batch) queued.push_back(pending->queued);
    const std::vector<TensorSpec>& outputs = *batch.front()->outputs;
    if (batch.size() == 1) {
      parts[0] = run(batch[0]->inputs, outputs, queued);
    } else {
      int64_t rows = 0;
      for (const Pending* pending : batch) rows += pending->rows;
      std::vector<Tensor> merged;
      for (size_t i = 0; i < batch.front()->inputs.size(); ++i) {
        const Tensor& first = batch.front()->inputs[i];
        Tensor tensor{first.name, first.type, first.shape, {}, {}};
        tensor.shape[0] = rows;
        for (const Pending* pending : batch) {
          tensor.append(pending->inputs[i], 0, pending->inputs[i].size());
        }
        merged.push_back(std::move(tensor));
      }
      std::vector<Tensor> results;
      try {
        results = run(merged, outputs, queued);
      } catch (...) {
        // One request's values (an id past an Embedding's vocabulary) fail
        // the whole run: run each alone so that only its own request fails.
        std::vector<std::exception_ptr> errors(batch.size());
        for (size_t p = 0; p < batch.size(); ++p) {
          try {
            parts[p] = run(batch[p]->inputs, outputs, {});
          } catch (...) {
            errors[p] = std::current_exception();
          }
        }
        finishBatch(batch, parts, errors);
        return;
      }
      for (const Tensor& result : results) {
        if (result.shape.empty() || result.shape[0] != rows) {
          throw Error(fmt::format("output '{}' has shape {} for a batch of {} rows; it cannot be "
                                  "split per request",
                                  result.name, formatShape(result.shape), rows),
                      "", "turn dynamic_batching off for this model");
        }
        const size_t perRow = rows == 0 ? 0 : result.size() / static_cast<size_t>(rows);
        size_t offset = 0;
        for (size_t p = 0; p < batch.size(); ++p) {
          Tensor part{result.name, result.type, result.shape, {}, {}};
          part.shape[0] = batch[p]->rows;
          const size_t count = perRow * static_cast<size_t>(batch[p]->rows);
          part.append(result, offset, count);
          offset += count;
          parts[p].push_back(std::move(part));
        }
      }
    }
  } catch (...) {
    error = std::current_exception();
  }
  finishBatch(batch, parts, std::vector<std::exception_ptr>(batch.size(), error));
}

void ModelVersion::finishBatch(const std::vector<Pending*>& batch,
                               std::vector<std::vector<Tensor>>& parts,
                               const std::vector<std::exception_ptr>& errors) const {
  metrics_.batches.fetch_add(1, std::memory_order_relaxed);
  metrics_.batchedRequests.fetch_add(batch.size(), std::memory_order_relaxed);
  std::lock_guard lock(queueMutex_);
  for (size_t p = 0; p < batch.size(); ++p) {
    batch[p]->results = std::move(parts[p]);
    batch[p]->error = errors[p];
    batch[p]->done = true;
    batch[p]->wake.notify_one();  // under the lock: it cannot go before we are done with it
  }
  --batchesRunning_;
  if (leader_) {
    leader_->wake.notify_one();  // the engine is free: stop waiting
  } else if (!queue_.empty()) {
    queue_.front()->wake.notify_one();
  }
}

}  // namespace skiff::serve
