#pragma once

// Execution of a loaded model. An Engine loads a model file into Sessions;
// one Session runs one request at a time, so a model version holds a pool of
// them (see loaded_version.hpp) to serve requests in parallel.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "serve/tensor.hpp"

namespace skiff::serve {

class Session {
 public:
  virtual ~Session() = default;
  // Runs the model on `inputs` (already checked against the signature) and
  // returns the outputs named in `outputs`, in that order. Not thread-safe.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs,
                                  const std::vector<TensorSpec>& outputs) = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;
  // Loads a model file; throws skiff::Error with the reason when the engine
  // cannot run it (unsupported operator, layout or data type).
  virtual std::unique_ptr<Session> load(const std::filesystem::path& file,
                                        const Signature& signature) = 0;
};

// OpenCV DNN (Debian's libopencv-dnn-dev): fast on small dense models, no
// extra runtime to ship. It runs FP32 tensors only; `threads` is OpenCV's
// per-inference parallelism (1 suits a server that runs requests in parallel).
std::unique_ptr<Engine> makeOpenCvEngine(int threads = 1);

}  // namespace skiff::serve
