#include "serve/router.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <map>
#include <vector>

#include "serve/protocol.hpp"
#include "skiff/version.hpp"

namespace skiff::serve {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    if (slash != 0) parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

std::optional<int64_t> parseNumber(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

HttpReply json(std::string body, int status = 200) {
  HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

std::string tensorList(const std::vector<TensorSpec>& tensors) {
  std::string out = "[";
  for (size_t i = 0; i < tensors.size(); ++i) {
    out += fmt::format("{}{{\"name\":{},\"datatype\":{},\"shape\":[{}]}}", i ? "," : "",
                       jsonString(tensors[i].name), jsonString(tensors[i].datatype),
                       fmt::join(tensors[i].shape, ","));
  }
  return out + "]";
}

// TensorFlow's name of a KServe data type, for TF Serving metadata.
const char* tfDataType(const std::string& datatype) {
  static const std::map<std::string, const char*> kNames{
      {"BOOL", "DT_BOOL"},     {"UINT8", "DT_UINT8"},   {"UINT16", "DT_UINT16"},
      {"UINT32", "DT_UINT32"}, {"UINT64", "DT_UINT64"}, {"INT8", "DT_INT8"},
      {"INT16", "DT_INT16"},   {"INT32", "DT_INT32"},   {"INT64", "DT_INT64"},
      {"FP16", "DT_HALF"},     {"FP32", "DT_FLOAT"},    {"FP64", "DT_DOUBLE"},
      {"BYTES", "DT_STRING"}};
  const auto name = kNames.find(datatype);
  return name == kNames.end() ? "DT_INVALID" : name->second;
}

std::string tfTensorMap(const std::vector<TensorSpec>& tensors) {
  std::string out = "{";
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::string dims;
    for (const int64_t size : tensors[i].shape) {
      dims += fmt::format("{}{{\"size\":\"{}\",\"name\":\"\"}}", dims.empty() ? "" : ",", size);
    }
    const char* dtype = tfDataType(tensors[i].datatype);
    out += fmt::format(
        "{}{}:{{\"dtype\":\"{}\",\"tensor_shape\":{{\"dim\":[{}],\"unknown_rank\":false}},"
        "\"name\":{}}}",
        i ? "," : "", jsonString(tensors[i].name), dtype, dims, jsonString(tensors[i].name));
  }
  return out + "}";
}

}  // namespace

HttpReply Router::handle(const HttpRequestView& request) const {
  HttpReply reply;
  try {
    reply = route(request);
  } catch (const RequestError& e) {
    reply = errorReply(e.status(), e.what());
  } catch (const std::exception& e) {
    reply = errorReply(500, std::string("internal error: ") + e.what());
  }
  metrics_.countResponse(reply.status);
  return reply;
}

HttpReply Router::route(const HttpRequestView& request) const {
  std::string_view path = request.target.substr(0, request.target.find('?'));
  const bool get = request.method == "GET";
  if (path == "/metrics") {
    if (!get) return errorReply(405, "use GET for /metrics");
    HttpReply reply = json(metrics_.render(manager_.servingCounts()));
    reply.contentType = "text/plain; version=0.0.4";
    return reply;
  }
  if (path == "/v2/health/live") return json("{\"live\":true}");
  if (path == "/v2/health/ready") {
    return manager_.ready() ? json("{\"ready\":true}") : json("{\"ready\":false}", 503);
  }
  if (path == "/v2" || path == "/v2/") {
    return json(
        fmt::format("{{\"name\":\"skiff\",\"version\":\"{}\",\"extensions\":"
                    "[\"binary_tensor_data\"]}}",
                    kVersion));
  }
  if (path.starts_with("/v2/models/")) return kserveModel(request, path.substr(11));
  if (path.starts_with("/v2/repository/")) return repository(request, path.substr(15));
  if (path.starts_with("/v1/models/")) return tfModel(request, path.substr(11));
  return errorReply(404, fmt::format("no such endpoint: {} {} (see /v2 and /v1/models/NAME)",
                                     request.method, path));
}

namespace {

// A model URL after its API prefix: "{model}[/versions/{v}][/rest...]".
struct ModelPath {
  std::string model;
  std::optional<int64_t> version;
  std::optional<std::string> label;    // /labels/{label} instead of /versions/{v}
  std::vector<std::string_view> rest;  // what follows the model and version
};

// Splits `path` into `out`; an error reply (404: no model named, 400: a
// version that is not a number) when it cannot.
std::optional<HttpReply> parseModelPath(std::string_view path, std::string_view example,
                                        ModelPath& out) {
  std::vector<std::string_view> parts = split(path);
  if (parts.empty()) return errorReply(404, fmt::format("name a model: {}", example));
  out.model = std::string(parts[0]);
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    out.version = parseNumber(parts[2]);
    if (!out.version) {
      return errorReply(400, fmt::format("version '{}' is not a number", parts[2]));
    }
    next = 3;
  } else if (parts.size() >= 3 && parts[1] == "labels") {
    out.label = std::string(parts[2]);
    next = 3;
  }
  out.rest.assign(parts.begin() + static_cast<std::ptrdiff_t>(next), parts.end());
  return std::nullopt;
}

// The version a model URL names; `routed` (an infer or predict that names no
// version) follows the traffic split instead of taking the highest version.
ModelManager::Lookup lookupOf(ModelManager& manager, const ModelPath& path, bool routed) {
  if (path.label) return manager.findLabel(path.model, *path.label);
  if (path.version || !routed) return manager.find(path.model, path.version);
  return manager.route(path.model);
}

}  // namespace

HttpReply Router::kserveModel(const HttpRequestView& request, std::string_view path) const {
  // {m}[/versions/{v}][/ready|/infer]
  ModelPath parsed;
  if (auto error = parseModelPath(path, "/v2/models/NAME", parsed)) return *error;
  const auto& [model, version, label, rest] = parsed;
  const std::string_view action = rest.empty() ? "" : rest[0];
  if (!version && !label && rest.size() == 1 && action == "labels") {
    return labels(request, model, std::nullopt);
  }
  if (!version && !label && rest.size() == 1 && action == "traffic") {
    return traffic(request, model);
  }
  if (label && rest.empty() && request.method != "GET") return labels(request, model, label);
  if (rest.size() > 1 || (action != "" && action != "ready" && action != "infer")) {
    return errorReply(404, fmt::format("no such endpoint under model '{}': {}", model, path));
  }
  if (action == "infer") {
    if (request.method != "POST") return errorReply(405, "use POST for infer");
    return infer(lookupOf(manager_, parsed, true), request, true);
  }
  const ModelManager::Lookup lookup = lookupOf(manager_, parsed, false);
  if (request.method != "GET") return errorReply(405, "use GET for model metadata and readiness");
  if (!lookup.version) return errorReply(lookup.status, lookup.message);
  if (action == "ready") {
    return json(fmt::format("{{\"name\":{},\"ready\":true}}", jsonString(model)));
  }
  std::vector<std::string> versions;
  for (const VersionStatus& status :
       manager_.status(model).value_or(std::vector<VersionStatus>{})) {
    if (status.state == VersionState::kAvailable)
      versions.push_back(fmt::format("\"{}\"", status.version));
  }
  const Signature& signature = lookup.version->signature();
  return json(fmt::format(
      "{{\"name\":{},\"versions\":[{}],\"platform\":\"onnx\",\"inputs\":{},\"outputs\":{}}}",
      jsonString(model), fmt::join(versions, ","), tensorList(signature.inputs),
      tensorList(signature.outputs)));
}

HttpReply Router::tfModel(const HttpRequestView& request, std::string_view path) const {
  // {m}[/versions/{v}][/metadata] or {m}[/versions/{v}]:predict
  bool predict = false;
  if (path.ends_with(":predict")) {
    predict = true;
    path.remove_suffix(8);
  }
  ModelPath parsed;
  if (auto error = parseModelPath(path, "/v1/models/NAME", parsed)) return *error;
  const auto& [model, version, label, rest] = parsed;
  const auto find = [&](bool routed = false) { return lookupOf(manager_, parsed, routed); };
  const bool metadata = !rest.empty() && rest[0] == "metadata" && !predict;
  if (rest.size() > (metadata ? 1u : 0u)) {
    return errorReply(404, fmt::format("no such endpoint under model '{}': {}", model, path));
  }
  if (predict) {
    if (request.method != "POST") return errorReply(405, "use POST for :predict");
    return infer(find(true), request, false);
  }
  if (request.method != "GET") return errorReply(405, "use GET for model status and metadata");
  if (metadata || label) {
    const ModelManager::Lookup lookup = find();
    if (!lookup.version) return errorReply(lookup.status, lookup.message);
    if (!metadata) {
      return json(
          fmt::format("{{\"model_version_status\":[{{\"version\":\"{}\",\"state\":\"AVAILABLE\","
                      "\"status\":{{\"error_code\":\"OK\",\"error_message\":\"\"}}}}]}}",
                      lookup.version->version()));
    }
    if (!lookup.version) return errorReply(lookup.status, lookup.message);
    const Signature& signature = lookup.version->signature();
    return json(fmt::format(
        "{{\"model_spec\":{{\"name\":{},\"signature_name\":\"\",\"version\":\"{}\"}},"
        "\"metadata\":{{\"signature_def\":{{\"signature_def\":{{\"serving_default\":{{"
        "\"inputs\":{},\"outputs\":{},\"method_name\":\"tensorflow/serving/predict\"}}}}}}}}}}",
        jsonString(model), lookup.version->version(), tfTensorMap(signature.inputs),
        tfTensorMap(signature.outputs)));
  }
  const auto statuses = manager_.status(model);
  if (!statuses) return errorReply(404, manager_.find(model).message);
  std::string entries;
  for (const VersionStatus& status : *statuses) {
    if (version && status.version != *version) continue;
    // TF Serving's states; a failed load is END with the error, as TF Serving reports it.
    const bool failed = status.state == VersionState::kUnavailable;
    entries += fmt::format(
        "{}{{\"version\":\"{}\",\"state\":\"{}\",\"status\":{{\"error_code\":\"{}\","
        "\"error_message\":{}}}}}",
        entries.empty() ? "" : ",", status.version,
        failed                                   ? "END"
        : status.state == VersionState::kLoading ? "LOADING"
                                                 : "AVAILABLE",
        failed ? "UNAVAILABLE" : "OK", jsonString(status.reason));
  }
  if (version && entries.empty()) {
    return errorReply(404, fmt::format("model '{}' has no version {}", model, *version));
  }
  return json("{\"model_version_status\":[" + entries + "]}");
}

HttpReply Router::infer(const ModelManager::Lookup& lookup, const HttpRequestView& request,
                        bool kserve) const {
  if (!lookup.version) return errorReply(lookup.status, lookup.message);
  const ModelVersion& version = *lookup.version;
  const auto started = Clock::now();
  VersionMetrics& metrics = version.metrics();
  metrics.requests.fetch_add(1, std::memory_order_relaxed);
  HttpReply reply;
  try {
    if (kserve) {
      std::optional<size_t> headerLength;
      if (!request.inferenceHeaderLength.empty()) {
        const auto length = parseNumber(request.inferenceHeaderLength);
        if (!length) throw RequestError(400, "Inference-Header-Content-Length must be a number");
        headerLength = static_cast<size_t>(*length);
      }
      KServeRequest parsed = parseKServeInfer(request.body, headerLength, version.signature());
      const std::vector<Tensor> outputs = version.infer(std::move(parsed.inputs), parsed.outputs);
      EncodedBody encoded = encodeKServeInfer(parsed, version.model(), version.version(), outputs);
      reply.body = std::move(encoded.body);
      reply.inferenceHeaderLength = encoded.headerLength;
      if (encoded.headerLength) reply.contentType = "application/octet-stream";
    } else {
      TfRequest parsed = parseTfPredict(request.body, version.signature());
      const std::vector<Tensor> outputs = version.infer(std::move(parsed.inputs));
      reply.body = encodeTfPredict(parsed, outputs);
    }
  } catch (...) {
    metrics.failures.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  metrics.requestSeconds.observe(std::chrono::duration<double>(Clock::now() - started).count());
  return reply;
}

}  // namespace skiff::serve
