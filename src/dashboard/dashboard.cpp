#include "dashboard/dashboard.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/signals.hpp"
#include "dashboard/page.hpp"
#include "deploy/local/state.hpp"
#include "deploy/local/status_view.hpp"
#include "http/http_client.hpp"

namespace skiff::dashboard {
namespace {

using nlohmann::json;
constexpr size_t kDefaultLogLines = 200;
constexpr size_t kMostLogLines = 5000;

http::HttpReply jsonReply(const json& body) {
  http::HttpReply reply;
  reply.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return reply;
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
  std::map<std::string, std::string> values;
  while (!query.empty()) {
    const size_t end = std::min(query.find('&'), query.size());
    const std::string_view pair = query.substr(0, end);
    const size_t equals = pair.find('=');
    if (equals == std::string_view::npos) {
      values[http::percentDecode(pair, true)] = "";
    } else {
      values[http::percentDecode(pair.substr(0, equals), true)] =
          http::percentDecode(pair.substr(equals + 1), true);
    }
    query.remove_prefix(std::min(end + 1, query.size()));
  }
  return values;
}

// Model names of a `skiff serve`, from its Prometheus gauge of loaded versions.
std::vector<std::string> modelsInMetrics(const std::string& text) {
  static constexpr std::string_view kPrefix = "skiff_serve_loaded_versions{model=\"";
  std::vector<std::string> models;
  size_t at = 0;
  while ((at = text.find(kPrefix, at)) != std::string::npos) {
    at += kPrefix.size();
    std::string name;
    for (; at < text.size() && text[at] != '"'; ++at) {
      if (text[at] == '\\' && at + 1 < text.size()) ++at;
      name += text[at];
    }
    models.push_back(name);
  }
  return models;
}

}  // namespace

Dashboard::Dashboard(const std::filesystem::path& projectDir, std::string listenHost)
    : state_(std::make_unique<deploy::local::StateDb>(projectDir)),
      listenHost_(std::move(listenHost)) {
  http::ClientOptions options;
  // A model server that does not answer must not hold the page up.
  options.connectTimeout = std::chrono::seconds(2);
  options.stallTimeout = std::chrono::seconds(5);
  client_ = std::make_unique<http::Client>(options);
}

Dashboard::~Dashboard() = default;

bool Dashboard::allowedHost(std::string_view host) const {
  if (host.empty() || listenHost_ == "0.0.0.0" || listenHost_ == "::") return true;
  // Host is NAME, NAME:PORT, [V6] or [V6]:PORT.
  std::string_view name = host;
  if (name.front() == '[') {
    name = name.substr(1, name.find(']') - 1);
  } else if (const size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  // Host names are case-insensitive (RFC 9110 4.2.3): LOCALHOST is localhost.
  const auto same = [name](std::string_view other) {
    return std::equal(name.begin(), name.end(), other.begin(), other.end(), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) ==
             std::tolower(static_cast<unsigned char>(b));
    });
  };
  return same("127.0.0.1") || same("localhost") || same("::1") || same(listenHost_);
}

http::HttpReply Dashboard::handle(const http::HttpRequestView& request) {
  if (!allowedHost(request.host)) {
    return http::errorReply(403, fmt::format("requests for host '{}' are refused: open the "
                                             "dashboard at http://127.0.0.1 or the --host it "
                                             "listens on",
                                             request.host));
  }
  if (request.method != "GET") return http::errorReply(405, "the dashboard only answers GET");
  const size_t question = request.target.find('?');
  const std::string_view path = request.target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view{} : request.target.substr(question + 1);
  try {
    if (path == "/" || path == "/index.html") {
      http::HttpReply reply;
      reply.contentType = "text/html; charset=utf-8";
      reply.body = dashboardPage();
      return reply;
    }
    if (path == "/api/status") return jsonReply(deploy::local::statusJson(*state_));
    if (path == "/api/metrics") return metrics();
    if (path == "/api/logs") return logs(std::string(query));
    if (path == "/api/models") return models();
    return http::errorReply(404, fmt::format("no page {} (try / or /api/status)", path));
  } catch (const std::exception& e) {
    return http::errorReply(500, e.what());
  }
}

http::HttpReply Dashboard::metrics() {
  json runs = json::array();
  for (const auto& run : state_->latestRuns()) {
    json series = json::object();
    for (const auto& metric : state_->metrics(run.id)) {
      json& points = series[metric.name];
      if (points.is_null()) points = json::array();
      // Without a step, values are plotted in the order they came.
      const int64_t x = metric.step ? *metric.step : static_cast<int64_t>(points.size());
      points.push_back({{"x", x}, {"value", metric.value}, {"replica", metric.replica}});
    }
    runs.push_back({{"name", run.name}, {"release", run.releaseId}, {"metrics", series}});
  }
  return jsonReply({{"runs", runs}});
}

http::HttpReply Dashboard::logs(const std::string& query) {
  const auto values = parseQuery(query);
  const auto name = values.find("name");
  if (name == values.end() || name->second.empty()) {
    return http::errorReply(400, "say which job or service: /api/logs?name=NAME");
  }
  size_t lines = kDefaultLogLines;
  if (const auto count = values.find("lines"); count != values.end()) {
    try {
      lines = std::clamp<size_t>(std::stoul(count->second), 1, kMostLogLines);
    } catch (const std::exception&) {
      return http::errorReply(400, fmt::format("lines={} is not a number", count->second));
    }
  }
  const auto run = state_->latestRun(name->second);
  if (!run) {
    std::vector<std::string> known;
    for (const auto& each : state_->latestRuns()) known.push_back(each.name);
    return http::errorReply(
        404, fmt::format("no job or service named '{}' (known: {})", name->second,
                         known.empty() ? "none yet" : fmt::format("{}", fmt::join(known, ", "))));
  }
  json replicas = json::object();
  for (const auto& replica : state_->replicas(run->id)) {
    replicas[replica.replica] = deploy::local::lastLines(replica.logPath, lines);
  }
  return jsonReply({{"name", run->name}, {"replicas", replicas}});
}

http::HttpReply Dashboard::models() {
  json servers = json::array();
  for (const auto& run : state_->latestRuns()) {
    if (run.kind != "serve" || run.endpoint.empty()) continue;
    json server = {{"name", run.name}, {"endpoint", run.endpoint}, {"status", run.status}};
    try {
      const auto fetch = [&](const std::string& path) {
        http::Request request;
        request.url = run.endpoint + path;
        http::Response response = client_->send(request);
        if (response.status != 200) {
          throw Error(fmt::format("{} answered HTTP {}", request.url, response.status));
        }
        return response.body;
      };
      json models = json::object();
      for (const auto& model : modelsInMetrics(fetch("/metrics"))) {
        const json status =
            json::parse(fetch("/v1/models/" + http::percentEncode(model, false)), nullptr, false);
        json versions = json::array();
        if (status.contains("model_version_status")) {
          for (const auto& version : status["model_version_status"]) {
            versions.push_back(
                {{"version", version.value("version", "")},
                 {"state", version.value("state", "")},
                 {"message",
                  version.contains("status") ? version["status"].value("error_message", "") : ""}});
          }
        }
        models[model] = versions;
      }
      server["models"] = models;
    } catch (const std::exception& e) {
      server["error"] = e.what();
    }
    servers.push_back(server);
  }
  return jsonReply({{"servers", servers}});
}

int runDashboard(const std::filesystem::path& projectDir, const DashboardOptions& options) {
  TerminationSignals signals;  // before any thread starts
  Dashboard dashboard(projectDir, options.host);
  http::HttpServerOptions serverOptions;
  serverOptions.host = options.host;
  serverOptions.port = options.port;
  serverOptions.threads = 1;  // one request at a time: the page polls, nothing here is hot
  serverOptions.maxBodyBytes = 1 << 16;
  http::HttpServer server(
      [&dashboard](const http::HttpRequestView& request) { return dashboard.handle(request); },
      serverOptions);
  server.start();
  std::cerr << fmt::format("skiff dashboard: {} on http://{}:{}\n", projectDir.string(),
                           options.host, server.port())
            << std::flush;
  signals.wait();
  server.shutdown();
  server.wait();
  return 0;
}

}  // namespace skiff::dashboard
