#include "serve/grpc_server.hpp"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>

#include "common/error.hpp"
#include "serve/grpc_codec.hpp"
#include "skiff/version.hpp"
#include "skiff_serve_proto/grpc_predict_v2.grpc.pb.h"
#include "skiff_serve_proto/health.grpc.pb.h"

namespace skiff::serve {
namespace {

using Clock = std::chrono::steady_clock;
using grpc::ServerContext;
using grpc::Status;

Status failure(int httpStatus, const std::string& message) {
  return {grpcCode(httpStatus), message};
}

// model_version: empty for the server's choice, a number, or else a label
// (the protocol has no field of its own for labels). `routed`: an inference
// that names no version follows the traffic split.
ModelManager::Lookup lookupVersion(ModelManager& manager, const std::string& model,
                                   const std::string& version, bool routed = false) {
  if (version.empty()) return routed ? manager.route(model) : manager.find(model);
  int64_t number = 0;
  const auto [end, error] =
      std::from_chars(version.data(), version.data() + version.size(), number);
  if (error == std::errc() && end == version.data() + version.size() && number >= 0) {
    return manager.find(model, number);
  }
  return manager.findLabel(model, version);
}

// Runs a control call: its RequestErrors become REST's status as a gRPC code.
template <typename Call>
Status guarded(const std::string& repository, Call&& call) {
  try {
    if (!repository.empty()) {
      throw RequestError(400, fmt::format("unknown repository '{}': skiff serve has one "
                                          "repository (leave repository_name empty)",
                                          repository));
    }
    call();
  } catch (const RequestError& e) {
    return failure(e.status(), e.what());
  } catch (const std::exception& e) {
    return failure(500, std::string("internal error: ") + e.what());
  }
  return Status::OK;
}

void addTensors(
    const std::vector<TensorSpec>& specs,
    google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const TensorSpec& spec : specs) {
    auto* tensor = out->Add();
    tensor->set_name(spec.name);
    tensor->set_datatype(spec.datatype);
    for (const int64_t dimension : spec.shape) tensor->add_shape(dimension);
  }
}

class InferenceService final : public inference::GRPCInferenceService::Service {
 public:
  InferenceService(ModelManager& manager, Metrics& metrics)
      : manager_(manager), metrics_(metrics) {}

  Status ServerLive(ServerContext*, const inference::ServerLiveRequest*,
                    inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return Status::OK;
  }

  Status ServerReady(ServerContext*, const inference::ServerReadyRequest*,
                     inference::ServerReadyResponse* response) override {
    response->set_ready(manager_.ready());
    return Status::OK;
  }

  Status ModelReady(ServerContext*, const inference::ModelReadyRequest* request,
                    inference::ModelReadyResponse* response) override {
    const auto lookup = lookupVersion(manager_, request->name(), request->version());
    if (lookup.status == 404) return failure(lookup.status, lookup.message);
    response->set_ready(lookup.version != nullptr);
    return Status::OK;
  }

  Status ServerMetadata(ServerContext*, const inference::ServerMetadataRequest*,
                        inference::ServerMetadataResponse* response) override {
    response->set_name("skiff");
    response->set_version(kVersion);
    return Status::OK;
  }

  Status ModelMetadata(ServerContext*, const inference::ModelMetadataRequest* request,
                       inference::ModelMetadataResponse* response) override {
    const auto lookup = lookupVersion(manager_, request->name(), request->version());
    if (!lookup.version) return failure(lookup.status, lookup.message);
    response->set_name(request->name());
    for (const VersionStatus& status :
         manager_.status(request->name()).value_or(std::vector<VersionStatus>{})) {
      if (status.state == VersionState::kAvailable) {
        response->add_versions(std::to_string(status.version));
      }
    }
    response->set_platform("onnx");
    addTensors(lookup.version->signature().inputs, response->mutable_inputs());
    addTensors(lookup.version->signature().outputs, response->mutable_outputs());
    return Status::OK;
  }

  Status ModelInfer(ServerContext*, const inference::ModelInferRequest* request,
                    inference::ModelInferResponse* response) override {
    const auto lookup =
        lookupVersion(manager_, request->model_name(), request->model_version(), true);
    if (!lookup.version) return failure(lookup.status, lookup.message);
    const ModelVersion& version = *lookup.version;
    VersionMetrics& metrics = version.metrics();
    metrics.requests.fetch_add(1, std::memory_order_relaxed);
    const auto started = Clock::now();
    try {
      std::vector<std::string> outputs;
      for (const auto& output : request->outputs()) outputs.push_back(output.name());
      const std::vector<Tensor> results = version.infer(decodeInputs(*request), outputs);
      response->set_model_name(version.model());
      response->set_model_version(std::to_string(version.version()));
      response->set_id(request->id());
      // Answers in the form it was asked: raw for raw inputs, typed for typed.
      encodeOutputs(results, request->raw_input_contents_size() > 0, *response);
    } catch (const RequestError& e) {
      metrics.failures.fetch_add(1, std::memory_order_relaxed);
      return failure(e.status(), e.what());
    } catch (const std::exception& e) {
      metrics.failures.fetch_add(1, std::memory_order_relaxed);
      return failure(500, std::string("internal error: ") + e.what());
    }
    metrics.requestSeconds.observe(std::chrono::duration<double>(Clock::now() - started).count());
    return Status::OK;
  }

  // Triton's repository extension, over the same calls as REST's.
  Status RepositoryIndex(ServerContext*, const inference::RepositoryIndexRequest* request,
                         inference::RepositoryIndexResponse* response) override {
    return guarded(request->repository_name(), [&] {
      for (const IndexEntry& row : manager_.index(request->ready())) {
        auto* model = response->add_models();
        model->set_name(row.name);
        if (row.version) model->set_version(std::to_string(*row.version));
        model->set_state(row.state);
        model->set_reason(row.reason);
      }
    });
  }

  Status RepositoryModelLoad(ServerContext*, const inference::RepositoryModelLoadRequest* request,
                             inference::RepositoryModelLoadResponse*) override {
    return guarded(request->repository_name(), [&] {
      manager_.loadModel(request->model_name(), !request->parameters().empty());
    });
  }

  Status RepositoryModelUnload(ServerContext*,
                               const inference::RepositoryModelUnloadRequest* request,
                               inference::RepositoryModelUnloadResponse*) override {
    return guarded(request->repository_name(),
                   [&] { manager_.unloadModel(request->model_name()); });
  }

 private:
  ModelManager& manager_;
  Metrics& metrics_;
};

// Health for probes: SERVING once the repository was read (as /v2/health/ready).
class HealthService final : public grpc::health::v1::Health::Service {
 public:
  explicit HealthService(const ModelManager& manager) : manager_(manager) {}

  Status Check(ServerContext*, const grpc::health::v1::HealthCheckRequest* request,
               grpc::health::v1::HealthCheckResponse* response) override {
    if (!request->service().empty() && request->service() != "inference.GRPCInferenceService") {
      return {grpc::StatusCode::NOT_FOUND,
              fmt::format("unknown service '{}' (this server has inference.GRPCInferenceService, "
                          "or ask with an empty name for the server)",
                          request->service())};
    }
    response->set_status(manager_.ready() ? grpc::health::v1::HealthCheckResponse::SERVING
                                          : grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    return Status::OK;
  }
  // Watch stays unimplemented: probes (Kubernetes, grpc_health_probe) call Check.

 private:
  const ModelManager& manager_;
};

}  // namespace

grpc::StatusCode grpcCode(int httpStatus) {
  switch (httpStatus) {
    case 200:
      return grpc::StatusCode::OK;
    case 400:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 405:
      return grpc::StatusCode::UNIMPLEMENTED;
    case 409:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case 413:
    case 429:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    default:
      return httpStatus >= 400 && httpStatus < 500 ? grpc::StatusCode::INVALID_ARGUMENT
                                                   : grpc::StatusCode::INTERNAL;
  }
}

struct GrpcServer::Services {
  Services(ModelManager& manager, Metrics& metrics)
      : inference(manager, metrics), health(manager) {}
  InferenceService inference;
  HealthService health;
};

GrpcServer::GrpcServer(ModelManager& manager, Metrics& metrics, GrpcServerOptions options)
    : manager_(manager), metrics_(metrics), options_(std::move(options)) {}

GrpcServer::~GrpcServer() {
  if (server_) {
    shutdown();
    wait();
  }
}

void GrpcServer::start() {
  services_ = std::make_unique<Services>(manager_, metrics_);
  grpc::ServerBuilder builder;
  const std::string address = fmt::format("{}:{}", options_.host, options_.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(
      options_.maxMessageBytes, static_cast<uint64_t>(std::numeric_limits<int>::max()))));
  builder.SetMaxSendMessageSize(std::numeric_limits<int>::max());
  builder.RegisterService(&services_->inference);
  builder.RegisterService(&services_->health);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    throw Error("cannot listen for gRPC", address,
                "choose another --grpc-port or --host (is another server on it?)");
  }
}

void GrpcServer::shutdown() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

void GrpcServer::wait() {
  if (server_) server_->Wait();
}

}  // namespace skiff::serve
