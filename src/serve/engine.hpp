#pragma once

// Execution of a loaded model. An Engine loads a model file into a Session;
// a model version holds one Session and runs every request on it, from as
// many threads as the HTTP server has.

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "serve/tensor.hpp"

namespace skiff::serve {

class Session {
 public:
  virtual ~Session() = default;
  // Runs the model on `inputs` (already checked against the signature, in
  // its order) and returns the outputs named in `outputs`, in that order.
  // Thread-safe: requests run on one session at once.
  virtual std::vector<Tensor> run(std::span<const Tensor> inputs,
                                  std::span<const TensorSpec> outputs) const = 0;
};

struct SessionSettings {
  // Threads one run may use for its operators; 0: the engine's shared pool.
  int intraOpThreads = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Names the engine and its build for logs and /v2 ("onnxruntime 1.30.0").
  virtual std::string name() const = 0;
  // Loads a model file; throws skiff::Error with the reason when the engine
  // cannot run it (the unsupported operator and its node, a tensor type no
  // protocol carries, a sequence or map output).
  virtual std::unique_ptr<Session> load(const std::filesystem::path& file,
                                        const Signature& signature,
                                        const SessionSettings& settings) = 0;
};

// Where the ONNX Runtime engine finds its shared library, and how it runs.
struct OnnxRuntimeOptions {
  // libonnxruntime.so.1 to load; empty: $SKIFF_ONNXRUNTIME_LIBRARY, then next
  // to the skiff binary, then the dynamic linker's search path.
  std::string library;
  // Threads of the pool that sessions share for their operators; 0: one per core.
  int threads = 0;
};

// ONNX Runtime through its C API, loaded at run time (dlopen). Throws
// skiff::Error saying where it looked and how to install the library when
// none loads. ONNX Runtime has one environment per process: the options of
// the first engine made hold for every later one.
std::unique_ptr<Engine> makeOnnxRuntimeEngine(const OnnxRuntimeOptions& options = {});

}  // namespace skiff::serve
