// The ONNX Runtime engine: one OrtEnv per process with a shared intra-op
// thread pool, one OrtSession per loaded model version, run from every
// request thread at once (OrtSession::Run is thread-safe).

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "common/error.hpp"
#include "serve/engine.hpp"
#include "serve/onnx_signature.hpp"
#include "serve/onnxruntime/library.hpp"
#include "serve/onnxruntime/ort_api.hpp"
#include "serve/request_error.hpp"

namespace skiff::serve {
namespace {

using ort::Library;

// Owns an OrtStatus; the message of a failed call, or nothing.
class Status {
 public:
  Status(const OrtApi& api, OrtStatus* status) : api_(api), status_(status) {}
  ~Status() {
    if (status_) api_.ReleaseStatus(status_);
  }
  Status(const Status&) = delete;
  Status& operator=(const Status&) = delete;
  explicit operator bool() const { return status_ != nullptr; }
  OrtErrorCode code() const { return api_.GetErrorCode(status_); }
  std::string message() const { return api_.GetErrorMessage(status_); }

 private:
  const OrtApi& api_;
  OrtStatus* status_;
};

// Runs one C API call; a failure becomes skiff::Error("what: message").
void check(const OrtApi& api, OrtStatus* status, const std::string& what) {
  const Status result(api, status);
  if (result) throw Error(what + ": " + result.message());
}

// unique_ptr with the matching Release function of the API.
template <typename T, void (*OrtApi::*Release)(T*)>
struct Releaser {
  const OrtApi* api;
  void operator()(T* object) const {
    if (object) (api->*Release)(object);
  }
};
template <typename T, void (*OrtApi::*Release)(T*)>
using Owned = std::unique_ptr<T, Releaser<T, Release>>;

using OwnedValue = Owned<OrtValue, &OrtApi::ReleaseValue>;
using OwnedSession = Owned<OrtSession, &OrtApi::ReleaseSession>;
using OwnedSessionOptions = Owned<OrtSessionOptions, &OrtApi::ReleaseSessionOptions>;
using OwnedTypeInfo = Owned<OrtTypeInfo, &OrtApi::ReleaseTypeInfo>;
using OwnedShapeInfo = Owned<OrtTensorTypeAndShapeInfo, &OrtApi::ReleaseTensorTypeAndShapeInfo>;
using OwnedEnv = Owned<OrtEnv, &OrtApi::ReleaseEnv>;
using OwnedMemoryInfo = Owned<OrtMemoryInfo, &OrtApi::ReleaseMemoryInfo>;
using OwnedThreadingOptions = Owned<OrtThreadingOptions, &OrtApi::ReleaseThreadingOptions>;

ONNXTensorElementDataType onnxType(DataType type) {
  switch (type) {
    case DataType::kBool:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
    case DataType::kUint8:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DataType::kUint16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16;
    case DataType::kUint32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32;
    case DataType::kUint64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64;
    case DataType::kInt8:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
    case DataType::kInt16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16;
    case DataType::kInt32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DataType::kInt64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case DataType::kFp16:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DataType::kFp32:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DataType::kFp64:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    case DataType::kBytes:
      return ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING;
  }
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

std::optional<DataType> fromOnnxType(ONNXTensorElementDataType type) {
  for (const DataType candidate :
       {DataType::kBool, DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
        DataType::kInt8, DataType::kInt16, DataType::kInt32, DataType::kInt64, DataType::kFp16,
        DataType::kFp32, DataType::kFp64, DataType::kBytes}) {
    if (onnxType(candidate) == type) return candidate;
  }
  return std::nullopt;
}

const char* valueKind(ONNXType type) {
  switch (type) {
    case ONNX_TYPE_SEQUENCE:
      return "a sequence";
    case ONNX_TYPE_MAP:
      return "a map";
    case ONNX_TYPE_OPTIONAL:
      return "an optional";
    case ONNX_TYPE_SPARSETENSOR:
      return "a sparse tensor";
    default:
      return "not a tensor";
  }
}

// ONNX Runtime's log lines go to skiff's log: warnings and errors only.
void logToSpdlog(void*, OrtLoggingLevel severity, const char* category, const char*,
                 const char* location, const char* message) {
  const auto level = severity >= ORT_LOGGING_LEVEL_ERROR ? spdlog::level::err : spdlog::level::warn;
  spdlog::log(level, "onnxruntime {} ({}): {}", category ? category : "", location ? location : "",
              message ? message : "");
}

// The node an ONNX Runtime load error is about: the first whose name the
// message quotes, else the first whose operator it names.
const OnnxNode* nodeNamedIn(const std::string& message, const std::vector<OnnxNode>& nodes) {
  for (const OnnxNode& node : nodes) {
    if (!node.name.empty() && (message.find("'" + node.name + "'") != std::string::npos ||
                               message.find("\"" + node.name + "\"") != std::string::npos)) {
      return &node;
    }
  }
  for (const OnnxNode& node : nodes) {
    const std::string qualified =
        node.domain.empty() ? node.opType : node.domain + ":" + node.opType;
    if (message.find(qualified + "(") != std::string::npos ||
        message.find(", " + node.opType + ",") != std::string::npos ||
        message.find(node.opType + "(") != std::string::npos) {
      return &node;
    }
  }
  return nullptr;
}

class OrtModelSession : public Session {
 public:
  OrtModelSession(const OrtApi& api, OwnedSession session, const OrtMemoryInfo* cpu,
                  OrtAllocator* allocator)
      : api_(api), session_(std::move(session)), cpu_(cpu), allocator_(allocator) {}

  std::vector<Tensor> run(std::span<const Tensor> inputs,
                          std::span<const TensorSpec> outputs) const override {
    std::vector<OwnedValue> owned;
    std::vector<const OrtValue*> values;
    std::vector<const char*> inputNames;
    owned.reserve(inputs.size());
    for (const Tensor& input : inputs) {
      owned.push_back(toValue(input));
      values.push_back(owned.back().get());
      inputNames.push_back(input.name.c_str());
    }
    std::vector<const char*> outputNames;
    for (const TensorSpec& output : outputs) outputNames.push_back(output.name.c_str());
    std::vector<OrtValue*> results(outputs.size(), nullptr);
    const Status status(
        api_, api_.Run(session_.get(), nullptr, inputNames.data(), values.data(), values.size(),
                       outputNames.data(), outputNames.size(), results.data()));
    std::vector<OwnedValue> ownedResults;
    for (OrtValue* result : results)
      ownedResults.emplace_back(result, Releaser<OrtValue, &OrtApi::ReleaseValue>{&api_});
    if (status) {
      // Shapes and types were checked against the signature; what is left is
      // the model's own constraint on values (a Reshape, an index out of range).
      if (status.code() == ORT_INVALID_ARGUMENT) {
        throw RequestError(400, "the model cannot run on this input: " + status.message());
      }
      throw Error("ONNX Runtime failed to run the model: " + status.message());
    }
    std::vector<Tensor> tensors;
    tensors.reserve(outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      tensors.push_back(fromValue(ownedResults[i].get(), outputs[i].name));
    }
    return tensors;
  }

 private:
  OwnedValue toValue(const Tensor& tensor) const {
    OrtValue* value = nullptr;
    const ONNXTensorElementDataType type = onnxType(tensor.type);
    if (tensor.type == DataType::kBytes) {
      check(api_,
            api_.CreateTensorAsOrtValue(allocator_, tensor.shape.data(), tensor.shape.size(), type,
                                        &value),
            "cannot make input '" + tensor.name + "'");
      OwnedValue owned(value, {&api_});
      for (size_t i = 0; i < tensor.strings.size(); ++i) {
        char* buffer = nullptr;
        check(api_,
              api_.GetResizedStringTensorElementBuffer(value, i, tensor.strings[i].size(), &buffer),
              "cannot fill input '" + tensor.name + "'");
        std::memcpy(buffer, tensor.strings[i].data(), tensor.strings[i].size());
      }
      return owned;
    }
    // Wraps the request's bytes without a copy; they outlive the run.
    static std::array<std::byte, 8> empty{};
    void* data = tensor.bytes.empty() ? empty.data() : const_cast<std::byte*>(tensor.bytes.data());
    check(api_,
          api_.CreateTensorWithDataAsOrtValue(cpu_, data, tensor.bytes.size(), tensor.shape.data(),
                                              tensor.shape.size(), type, &value),
          "cannot pass input '" + tensor.name + "'");
    return OwnedValue(value, {&api_});
  }

  Tensor fromValue(const OrtValue* value, const std::string& name) const {
    OrtTensorTypeAndShapeInfo* rawInfo = nullptr;
    check(api_, api_.GetTensorTypeAndShape(value, &rawInfo),
          "output '" + name + "' is not a tensor");
    const OwnedShapeInfo info(rawInfo, {&api_});
    ONNXTensorElementDataType elementType{};
    size_t rank = 0;
    check(api_, api_.GetTensorElementType(info.get(), &elementType), "output '" + name + "'");
    check(api_, api_.GetDimensionsCount(info.get(), &rank), "output '" + name + "'");
    Tensor tensor;
    tensor.name = name;
    tensor.shape.resize(rank);
    check(api_, api_.GetDimensions(info.get(), tensor.shape.data(), rank), "output '" + name + "'");
    const std::optional<DataType> type = fromOnnxType(elementType);
    if (!type)
      throw Error(
          fmt::format("output '{}' has ONNX element type {}", name, static_cast<int>(elementType)));
    tensor.type = *type;
    size_t count = 0;
    check(api_, api_.GetTensorShapeElementCount(info.get(), &count), "output '" + name + "'");
    if (tensor.type == DataType::kBytes) {
      size_t length = 0;
      check(api_, api_.GetStringTensorDataLength(value, &length), "output '" + name + "'");
      std::string content(length, '\0');
      std::vector<size_t> offsets(count);
      check(api_, api_.GetStringTensorContent(value, content.data(), length, offsets.data(), count),
            "output '" + name + "'");
      for (size_t i = 0; i < count; ++i) {
        const size_t end = i + 1 < count ? offsets[i + 1] : length;
        tensor.strings.push_back(content.substr(offsets[i], end - offsets[i]));
      }
      return tensor;
    }
    void* data = nullptr;
    check(api_, api_.GetTensorMutableData(const_cast<OrtValue*>(value), &data),
          "output '" + name + "'");
    const auto* begin = static_cast<const std::byte*>(data);
    tensor.bytes.assign(begin, begin + count * elementSize(tensor.type));
    return tensor;
  }

  const OrtApi& api_;
  OwnedSession session_;
  const OrtMemoryInfo* cpu_;
  OrtAllocator* allocator_;
};

class OrtEngine : public Engine {
 public:
  OrtEngine(const Library& library, const OnnxRuntimeOptions& options)
      : library_(library), api_(*library.api) {
    const int threads = options.threads > 0
                            ? options.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    OrtThreadingOptions* rawThreading = nullptr;
    check(api_, api_.CreateThreadingOptions(&rawThreading), "ONNX Runtime threading options");
    const OwnedThreadingOptions threading(rawThreading, {&api_});
    check(api_, api_.SetGlobalIntraOpNumThreads(threading.get(), threads), "intra-op threads");
    check(api_, api_.SetGlobalInterOpNumThreads(threading.get(), 1), "inter-op threads");
    // Idle pool threads sleep instead of spinning: requests arrive at any
    // moment and a spinning pool takes the cores the HTTP threads need.
    check(api_, api_.SetGlobalSpinControl(threading.get(), 0), "spin control");
    OrtEnv* env = nullptr;
    check(api_,
          api_.CreateEnvWithCustomLoggerAndGlobalThreadPools(
              logToSpdlog, nullptr, ORT_LOGGING_LEVEL_WARNING, "skiff", threading.get(), &env),
          "cannot start ONNX Runtime " + library_.version);
    env_.reset(env);
    OrtMemoryInfo* cpu = nullptr;
    check(api_, api_.CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &cpu),
          "ONNX Runtime CPU memory info");
    cpu_.reset(cpu);
    check(api_, api_.GetAllocatorWithDefaultOptions(&allocator_), "ONNX Runtime allocator");
  }

  std::string name() const override {
    return fmt::format("onnxruntime {} ({})", library_.version, library_.path);
  }

  std::unique_ptr<Session> load(const std::filesystem::path& file, const Signature& signature,
                                const SessionSettings& settings) override {
    OrtSessionOptions* rawOptions = nullptr;
    check(api_, api_.CreateSessionOptions(&rawOptions), "ONNX Runtime session options");
    const OwnedSessionOptions options(rawOptions, {&api_});
    check(api_, api_.SetSessionGraphOptimizationLevel(options.get(), ORT_ENABLE_ALL),
          "graph optimization");
    check(api_, api_.SetSessionExecutionMode(options.get(), ORT_SEQUENTIAL), "execution mode");
    // No arena per session: it keeps each version's peak activations for
    // good. Measured (bench-engine and resnet18 at 8 connections): no slower
    // without it, and RSS the same for one version, so many versions gain.
    check(api_, api_.DisableCpuMemArena(options.get()), "memory arena");
    if (settings.intraOpThreads > 0) {
      check(api_, api_.SetIntraOpNumThreads(options.get(), settings.intraOpThreads),
            "intra_op_threads");
      check(api_, api_.SetInterOpNumThreads(options.get(), 1), "inter-op threads");
    } else {
      check(api_, api_.DisablePerSessionThreads(options.get()), "shared thread pool");
    }
    OrtSession* rawSession = nullptr;
    {
      const Status status(api_,
                          api_.CreateSession(env_.get(), file.c_str(), options.get(), &rawSession));
      if (status) throw loadError(file, status.message());
    }
    OwnedSession session(rawSession, {&api_});
    checkValues(session.get(), file, signature);
    return std::make_unique<OrtModelSession>(api_, std::move(session), cpu_.get(), allocator_);
  }

 private:
  // Inputs and outputs must be tensors of a type the protocols carry.
  void checkValues(OrtSession* session, const std::filesystem::path& file,
                   const Signature& signature) {
    for (const bool input : {true, false}) {
      size_t count = 0;
      check(api_,
            input ? api_.SessionGetInputCount(session, &count)
                  : api_.SessionGetOutputCount(session, &count),
            "ONNX Runtime session");
      const std::vector<TensorSpec>& specs = input ? signature.inputs : signature.outputs;
      for (size_t i = 0; i < count && i < specs.size(); ++i) {
        OrtTypeInfo* rawInfo = nullptr;
        check(api_,
              input ? api_.SessionGetInputTypeInfo(session, i, &rawInfo)
                    : api_.SessionGetOutputTypeInfo(session, i, &rawInfo),
              "ONNX Runtime session");
        const OwnedTypeInfo info(rawInfo, {&api_});
        ONNXType kind = ONNX_TYPE_UNKNOWN;
        check(api_, api_.GetOnnxTypeFromTypeInfo(info.get(), &kind), "ONNX Runtime type info");
        const char* role = input ? "input" : "output";
        if (kind != ONNX_TYPE_TENSOR) {
          throw Error(
              fmt::format("{} '{}' is {}, not a tensor; KServe v2 and TF Serving carry tensors "
                          "only",
                          role, specs[i].name, valueKind(kind)),
              file.string(),
              "export without it: for a scikit-learn classifier converted by skl2onnx, "
              "options={id(model): {'zipmap': False}} gives the probabilities as a tensor");
        }
        if (!parseDataType(specs[i].datatype)) {
          throw Error(fmt::format("{} '{}' has data type {}, which neither KServe v2 nor TF "
                                  "Serving carries",
                                  role, specs[i].name, specs[i].datatype),
                      file.string(), "export the model with FP16/FP32/FP64 or integer tensors");
        }
      }
    }
  }

  Error loadError(const std::filesystem::path& file, const std::string& message) const {
    // Name the operator, its domain and opset, and the node, from the file itself.
    std::string bytes;
    if (FILE* stream = std::fopen(file.c_str(), "rb")) {
      std::array<char, 1 << 16> buffer{};
      while (const size_t got = std::fread(buffer.data(), 1, buffer.size(), stream)) {
        bytes.append(buffer.data(), got);
      }
      std::fclose(stream);
    }
    std::string problem = fmt::format("ONNX Runtime {} cannot load the model", library_.version);
    try {
      const OnnxGraph graph = readOnnxGraph(bytes, file.string());
      if (const OnnxNode* node = nodeNamedIn(message, graph.nodes)) {
        const auto opset = graph.opsets.find(node->domain);
        problem = fmt::format(
            "ONNX Runtime {} cannot load operator {} (domain {}, opset {}) of node '{}'",
            library_.version, node->opType, node->domain.empty() ? "ai.onnx" : node->domain,
            opset == graph.opsets.end() ? std::string("not imported")
                                        : std::to_string(opset->second),
            node->name);
      }
    } catch (const Error&) {
      // Not readable as ONNX: ONNX Runtime's own message says why.
    }
    return Error(problem + ": " + message, file.string(),
                 "export the model with operators and opsets ONNX Runtime supports "
                 "(https://onnxruntime.ai/docs/reference/operators), or register the custom "
                 "operator's domain");
  }

  const Library& library_;
  const OrtApi& api_;
  OwnedEnv env_{nullptr, {&api_}};
  OwnedMemoryInfo cpu_{nullptr, {&api_}};
  OrtAllocator* allocator_ = nullptr;
};

}  // namespace

std::unique_ptr<Engine> makeOnnxRuntimeEngine(const OnnxRuntimeOptions& options) {
  // ONNX Runtime keeps one environment per process: a second engine shares
  // the first one's (and its thread pool).
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  const Library& library = ort::loadLibrary(options.library);
  return std::make_unique<OrtEngine>(library, options);
}

}  // namespace skiff::serve
