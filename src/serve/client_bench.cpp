#include "serve/client_bench.hpp"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "skiff_serve_proto/grpc_predict_v2.grpc.pb.h"

namespace skiff::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;

// One client's connection: sends the request once and waits for the answer.
using Call = std::function<void()>;

std::pair<std::string, std::string> hostAndPort(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) throw Error("expected HOST:PORT", address);
  return {address.substr(0, colon), address.substr(colon + 1)};
}

// REST: one keep-alive connection, the prepared POST written and read back.
class RestClient {
 public:
  RestClient(const ClientBenchOptions& options) : stream_(context_) {
    const auto [host, port] = hostAndPort(options.address);
    stream_.connect(asio::ip::tcp::resolver(context_).resolve(host, port));
    request_.method(beast::http::verb::post);
    request_.target(fmt::format("/v2/models/{}/infer", options.model));
    request_.set(beast::http::field::host, options.address);
    request_.set(beast::http::field::content_type, "application/json");
    request_.body() = options.requestBody;
    request_.prepare_payload();
  }
  void call() {
    beast::http::write(stream_, request_);
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream_, buffer_, response);
    if (response.result_int() != 200) {
      throw Error(
          fmt::format("the server answered HTTP {}: {}", response.result_int(), response.body()),
          std::string(request_.target()));
    }
  }

 private:
  asio::io_context context_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  beast::http::request<beast::http::string_body> request_;
};

// The KServe v2 JSON request as a ModelInferRequest with FP32 inputs.
inference::ModelInferRequest grpcRequest(const ClientBenchOptions& options) {
  const nlohmann::json body = nlohmann::json::parse(options.requestBody);
  inference::ModelInferRequest request;
  request.set_model_name(options.model);
  for (const nlohmann::json& input : body.at("inputs")) {
    if (input.value("datatype", "") != "FP32") {
      throw Error("the gRPC client sends FP32 inputs only", input.value("name", ""));
    }
    auto* tensor = request.add_inputs();
    tensor->set_name(input.at("name").get<std::string>());
    tensor->set_datatype("FP32");
    for (const auto& dimension : input.at("shape")) tensor->add_shape(dimension.get<int64_t>());
    std::vector<float> values;
    for (const auto& value : input.at("data")) values.push_back(value.get<float>());
    if (options.rawContents) {
      request.add_raw_input_contents(
          std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    } else {
      tensor->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
    }
  }
  return request;
}

// gRPC: a channel of its own (not shared with the other clients), unary calls.
class GrpcClient {
 public:
  GrpcClient(const ClientBenchOptions& options) : request_(grpcRequest(options)) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per client
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), arguments));
  }
  void call() {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    const grpc::Status status = stub_->ModelInfer(&context, request_, &response);
    if (!status.ok())
      throw Error("ModelInfer failed: " + status.error_message(), request_.model_name());
  }

 private:
  inference::ModelInferRequest request_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

template <typename Client>
Call makeCall(const ClientBenchOptions& options) {
  auto client = std::make_shared<Client>(options);
  return [client] { client->call(); };
}

double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto at = static_cast<size_t>(fraction * static_cast<double>(sorted.size() - 1));
  return sorted[at];
}

// Calls until `end`, each call's latency in microseconds.
std::vector<double> callUntil(const Call& call, Clock::time_point end) {
  std::vector<double> micros;
  for (auto start = Clock::now(); start < end; start = Clock::now()) {
    call();
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return micros;
}

}  // namespace

ClientBenchResult benchClients(const ClientBenchOptions& options) {
  std::vector<Call> calls;
  for (int i = 0; i < options.clients; ++i) {
    calls.push_back(options.protocol == "grpc" ? makeCall<GrpcClient>(options)
                                               : makeCall<RestClient>(options));
  }
  for (const Call& call : calls) {
    for (int i = 0; i < 200; ++i) call();  // warm-up: connections open, caches warm
  }
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(options.seconds));
  std::vector<std::vector<double>> latencies(calls.size());
  std::vector<std::exception_ptr> errors(calls.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < calls.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        latencies[i] = callUntil(calls[i], end);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  std::vector<double> all;
  for (const auto& each : latencies) all.insert(all.end(), each.begin(), each.end());
  std::sort(all.begin(), all.end());
  ClientBenchResult result;
  result.requests = static_cast<int64_t>(all.size());
  result.requestsPerSecond = static_cast<double>(all.size()) / elapsed;
  result.p50Microseconds = percentile(all, 0.5);
  result.p99Microseconds = percentile(all, 0.99);
  return result;
}

}  // namespace skiff::serve
