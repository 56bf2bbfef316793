#include "serve/engine_bench.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/error.hpp"
#include "serve/engine.hpp"
#include "serve/model_version.hpp"
#include "serve/onnx_signature.hpp"
#include "serve/protocol.hpp"

namespace skiff::serve {

EngineBenchResult benchEngine(const std::string& modelFile, const std::string& kserveBody,
                              int iterations, const OnnxRuntimeOptions& engineOptions) {
  std::ifstream in(modelFile, std::ios::binary);
  if (!in) throw Error("cannot read the model", modelFile);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const Signature signature = readOnnxSignature(bytes.str(), modelFile);
  std::unique_ptr<Engine> engine = makeOnnxRuntimeEngine(engineOptions);
  std::unique_ptr<Session> session = engine->load(modelFile, signature, {});
  std::vector<Tensor> inputs;
  try {
    inputs = checkInputs(signature, parseKServeInfer(kserveBody, {}, signature).inputs, 0);
  } catch (const RequestError& e) {
    throw Error(std::string("the request does not fit the model: ") + e.what(), modelFile);
  }
  for (int i = 0; i < 100; ++i) session->run(inputs, signature.outputs);  // warm-up
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    session->run(inputs, signature.outputs);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(micros.begin(), micros.end());
  EngineBenchResult result;
  result.iterations = iterations;
  if (!micros.empty()) {
    result.p50Microseconds = micros[micros.size() / 2];
    result.p99Microseconds = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
  }
  return result;
}

}  // namespace skiff::serve
