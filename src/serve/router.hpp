#pragma once

// Maps HTTP requests to the model manager: KServe v2, TF Serving REST, the
// repository, label and traffic APIs, and Prometheus metrics. Transport-free (the HTTP server feeds
// it), so tests and the fuzz target drive it directly.

#include <optional>
#include <string>
#include <string_view>

#include "http/server.hpp"
#include "serve/metrics.hpp"
#include "serve/model_manager.hpp"

namespace skiff::serve {

using http::errorReply;
using http::HttpReply;
using http::HttpRequestView;

class Router {
 public:
  Router(ModelManager& manager, Metrics& metrics) : manager_(manager), metrics_(metrics) {}
  HttpReply handle(const HttpRequestView& request) const;

 private:
  HttpReply route(const HttpRequestView& request) const;
  HttpReply kserveModel(const HttpRequestView& request, std::string_view path) const;
  HttpReply tfModel(const HttpRequestView& request, std::string_view path) const;
  HttpReply infer(const ModelManager::Lookup& lookup, const HttpRequestView& request,
                  bool kserve) const;
  // router_control.cpp: /v2/repository/..., /v2/models/{m}/labels[/{label}],
  // /v2/models/{m}/traffic.
  HttpReply repository(const HttpRequestView& request, std::string_view path) const;
  HttpReply labels(const HttpRequestView& request, const std::string& model,
                   const std::optional<std::string>& label) const;
  HttpReply traffic(const HttpRequestView& request, const std::string& model) const;

  ModelManager& manager_;
  Metrics& metrics_;
};

// {"error": message}, the error body both APIs use.
}  // namespace skiff::serve
