// The OpenCV DNN engine. OpenCV's own headers stay in this file.

#include <fmt/format.h>

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include "common/error.hpp"
#include "serve/engine.hpp"

namespace skiff::serve {
namespace {

std::string firstLine(const std::string& text) {
  // OpenCV messages repeat the source location; the node line says what failed.
  const size_t node = text.find("Node [");
  std::string line = text.substr(node == std::string::npos ? 0 : node);
  const size_t end = line.find('\n');
  return end == std::string::npos ? line : line.substr(0, end);
}

class OpenCvSession : public Session {
 public:
  explicit OpenCvSession(cv::dnn::Net net) : net_(std::move(net)) {}

  std::vector<Tensor> run(const std::vector<Tensor>& inputs,
                          const std::vector<TensorSpec>& outputs) override {
    std::vector<cv::Mat> blobs;
    blobs.reserve(inputs.size());
    for (const Tensor& input : inputs) {
      std::vector<int> sizes(input.shape.begin(), input.shape.end());
      if (sizes.empty()) sizes.push_back(1);
      // Wraps the request's data without a copy; it outlives forward().
      blobs.emplace_back(static_cast<int>(sizes.size()), sizes.data(), CV_32F,
                         const_cast<float*>(input.data.data()));
      net_.setInput(blobs.back(), input.name);
    }
    std::vector<std::string> names;
    for (const TensorSpec& output : outputs) names.push_back(output.name);
    std::vector<cv::Mat> results;
    try {
      net_.forward(results, names);
    } catch (const cv::Exception& e) {
      throw Error("the model failed on this input: " + firstLine(e.what()));
    }
    std::vector<Tensor> tensors(outputs.size());
    for (size_t i = 0; i < outputs.size() && i < results.size(); ++i) {
      const cv::Mat result = results[i].isContinuous() ? results[i] : results[i].clone();
      if (result.depth() != CV_32F) throw Error("the engine returned a non-FP32 output");
      Tensor& tensor = tensors[i];
      tensor.name = outputs[i].name;
      for (int d = 0; d < result.dims; ++d) tensor.shape.push_back(result.size[d]);
      const auto* begin = result.ptr<float>();
      tensor.data.assign(begin, begin + result.total());
    }
    return tensors;
  }

 private:
  cv::dnn::Net net_;
};

class OpenCvEngine : public Engine {
 public:
  explicit OpenCvEngine(int threads) {
    cv::setNumThreads(threads);
    // Failures reach the user as errors with the reason; OpenCV's log would repeat them.
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  }

  std::string name() const override { return "opencv-dnn " CV_VERSION; }

  std::unique_ptr<Session> load(const std::filesystem::path& file,
                                const Signature& signature) override {
    for (const auto* list : {&signature.inputs, &signature.outputs}) {
      for (const TensorSpec& tensor : *list) {
        if (tensor.datatype != kFp32) {
          throw Error(fmt::format("tensor '{}' has data type {}; the OpenCV engine runs FP32 "
                                  "tensors only",
                                  tensor.name, tensor.datatype),
                      file.string(), "export the model with float32 inputs and outputs");
        }
      }
    }
    cv::dnn::Net net;
    try {
      net = cv::dnn::readNetFromONNX(file.string());
    } catch (const cv::Exception& e) {
      throw Error("OpenCV DNN cannot load the model: " + firstLine(e.what()), file.string(),
                  "use operators OpenCV DNN 4.6 supports, or simplify the graph "
                  "(onnx-simplifier)");
    }
    if (net.empty()) throw Error("OpenCV DNN loaded an empty network", file.string());
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return std::make_unique<OpenCvSession>(std::move(net));
  }
};

}  // namespace

std::unique_ptr<Engine> makeOpenCvEngine(int threads) {
  return std::make_unique<OpenCvEngine>(threads);
}

}  // namespace skiff::serve
