#include "dashboard/dashboard.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/signals.hpp"
#include "dashboard/page.hpp"
#include "deploy/local/state.hpp"
#include "deploy/local/status_view.hpp"
#include "deploy/served_models.hpp"
#include "http/http_client.hpp"

namespace skiff::dashboard {
namespace {

using nlohmann::json;
constexpr size_t kDefaultLogLines = 200;
constexpr size_t kMostLogLines = 5000;
// Health samples kept per server: at one every 2 s, the last 10 minutes.
constexpr size_t kMostSamples = 300;
constexpr const char* kNoHistory =
    "the run history is kept by the local target; a cluster keeps only the current pods";

// ": MESSAGE" of an error body (an API server's Status, a server's {"error"}), else "".
std::string errorMessageOf(const std::string& body) {
  const json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object()) return "";
  for (const char* key : {"message", "error"}) {
    if (parsed.contains(key) && parsed[key].is_string())
      return ": " + parsed[key].get<std::string>();
  }
  return "";
}

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

// One line of Prometheus text: name, labels, value; false for comments and
// lines it cannot read.
bool parseSampleLine(std::string_view line, std::string& name,
                     std::map<std::string, std::string>& labels, double& value) {
  if (line.empty() || line.front() == '#') return false;
  labels.clear();
  const size_t brace = line.find('{');
  const size_t space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  if (brace != std::string_view::npos && brace < space) {
    name = std::string(line.substr(0, brace));
    size_t at = brace + 1;
    while (at < line.size() && line[at] != '}') {
      const size_t equals = line.find('=', at);
      if (equals == std::string_view::npos || equals + 1 >= line.size()) return false;
      const std::string key(line.substr(at, equals - at));
      std::string text;
      at = equals + 2;  // past ="
      for (; at < line.size() && line[at] != '"'; ++at) {
        if (line[at] == '\\' && at + 1 < line.size()) ++at;
        text += line[at];
      }
      labels[key] = text;
      at += 1;  // the closing quote
      if (at < line.size() && line[at] == ',') ++at;
    }
  } else {
    name = std::string(line.substr(0, space));
  }
  try {
    value = std::stod(std::string(line.substr(space + 1)));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// The q-quantile of the requests between two histogram scrapes, linear
// within a bucket as Prometheus's histogram_quantile is; nothing without
// requests in between.
std::optional<double> quantile(double q, const std::vector<std::pair<double, double>>& before,
                               const std::vector<std::pair<double, double>>& after) {
  if (after.empty() || before.size() != after.size()) return std::nullopt;
  std::vector<double> counts(after.size());
  for (size_t i = 0; i < after.size(); ++i) counts[i] = after[i].second - before[i].second;
  const double total = counts.back();
  if (total <= 0) return std::nullopt;
  const double rank = q * total;
  double lower = 0, below = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    if (counts[i] >= rank) {
      const double upper = std::isinf(after[i].first) ? lower : after[i].first;
      const double inBucket = counts[i] - below;
      return inBucket <= 0 ? upper : lower + (upper - lower) * (rank - below) / inBucket;
    }
    lower = after[i].first;
    below = counts[i];
  }
  return lower;
}

// The run that wrote a model version, where the target keeps runs.
json runLink(deploy::local::StateDb* history, const std::string& model,
             const std::string& version) {
  if (!history) return nullptr;
  deploy::local::StateDb& state = *history;
  const auto artifact = state.modelVersion(model, version);
  if (!artifact) return nullptr;
  const auto run = state.run(artifact->runId);
  if (!run) return nullptr;
  json metrics = json::object();
  for (const auto& metric : state.latestMetrics(run->id)) metrics[metric.name] = metric.value;
  return {{"id", run->id},         {"name", run->name},      {"release", run->releaseId},
          {"status", run->status}, {"path", artifact->path}, {"metrics", metrics}};
}

}  // namespace

Dashboard::Dashboard(std::unique_ptr<Source> source, std::string listenHost)
    : source_(std::move(source)), listenHost_(std::move(listenHost)) {}

Dashboard::Dashboard(const std::filesystem::path& projectDir, std::string listenHost)
    : Dashboard(makeLocalSource(projectDir), std::move(listenHost)) {}

Dashboard::~Dashboard() {
  {
    std::lock_guard lock(stopMutex_);
    stopping_ = true;
  }
  stopSignal_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

void Dashboard::startSampling(std::chrono::milliseconds interval) {
  sampler_ = std::thread([this, interval] {
    std::unique_lock lock(stopMutex_);
    while (!stopping_) {
      lock.unlock();
      try {
        sampleServers();
      } catch (const std::exception& e) {
        std::cerr << "skiff dashboard: sampling the model servers failed: " << e.what() << "\n";
      }
      lock.lock();
      stopSignal_.wait_for(lock, interval, [this] { return stopping_; });
    }
  });
}

void Dashboard::sampleServers() {
  for (const auto& server : source_->modelServers()) {
    if (!server.live) continue;
    ServerSample sample;
    sample.time = deploy::local::nowSeconds();
    try {
      const http::Response response = source_->fetch(server, "/metrics");
      if (response.status != 200) continue;
      std::string_view text = response.body;
      std::string name;
      std::map<std::string, std::string> labels;
      double value = 0;
      while (!text.empty()) {
        const size_t end = std::min(text.find('\n'), text.size());
        const std::string_view line = text.substr(0, end);
        text.remove_prefix(std::min(end + 1, text.size()));
        if (!parseSampleLine(line, name, labels, value) || !labels.count("model") ||
            !labels.count("version")) {
          continue;
        }
        VersionSample& version = sample.versions[{labels["model"], labels["version"]}];
        if (name == "skiff_serve_inference_requests_total") {
          version.requests = value;
        } else if (name == "skiff_serve_inference_failures_total") {
          version.failures = value;
        } else if (name == "skiff_serve_request_duration_seconds_bucket" && labels.count("le")) {
          const double le =
              labels["le"] == "+Inf" ? HUGE_VAL : std::strtod(labels["le"].c_str(), nullptr);
          version.latencyBuckets.emplace_back(le, value);
        }
      }
    } catch (const std::exception&) {
      continue;  // a server that does not answer has no sample; /api/models says why
    }
    std::lock_guard lock(samplesMutex_);
    auto& kept = samples_[server.name];
    kept.push_back(std::move(sample));
    while (kept.size() > kMostSamples) kept.pop_front();
  }
}

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
    if (path == "/api/status") return jsonReply(source_->status());
    if (path == "/api/runs") return runs(std::string(query));
    if (path.rfind("/api/runs/", 0) == 0) return run(path.substr(10));
    if (path == "/api/metrics") return metrics(std::string(query));
    if (path == "/api/logs") return logs(std::string(query));
    if (path == "/api/models") return models();
    return http::errorReply(404, fmt::format("no page {} (try / or /api/status)", path));
  } catch (const RequestError& e) {
    return http::errorReply(e.status(), e.what());
  } catch (const std::exception& e) {
    return http::errorReply(500, e.what());
  }
}

namespace {
// Every value of every metric of a run: x is the step, or the order of the
// values when there is none; time is when it was reported.
json metricSeries(deploy::local::StateDb& state, int64_t runId) {
  json series = json::object();
  for (const auto& metric : state.metrics(runId)) {
    json& points = series[metric.name];
    if (points.is_null()) points = json::array();
    const int64_t x = metric.step ? *metric.step : static_cast<int64_t>(points.size());
    points.push_back({{"x", x},
                      {"step", metric.step ? json(*metric.step) : json()},
                      {"time", metric.time},
                      {"value", metric.value},
                      {"replica", metric.replica}});
  }
  return series;
}

std::optional<int64_t> parseId(std::string_view text) {
  int64_t id = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}
}  // namespace

http::HttpReply Dashboard::metrics(const std::string& query) {
  deploy::local::StateDb* history = source_->history();
  if (!history) return jsonReply({{"runs", json::array()}, {"note", kNoHistory}});
  const auto values = parseQuery(query);
  std::vector<deploy::local::RunRecord> chosen;
  if (const auto ids = values.find("runs"); ids != values.end() && !ids->second.empty()) {
    std::string_view list = ids->second;
    while (!list.empty()) {
      const size_t comma = std::min(list.find(','), list.size());
      const auto id = parseId(list.substr(0, comma));
      if (!id)
        return http::errorReply(400, fmt::format("runs={} is not a list of run ids", ids->second));
      const auto run = history->run(*id);
      if (!run)
        return http::errorReply(404, fmt::format("no run {} (it may have been pruned)", *id));
      chosen.push_back(*run);
      list.remove_prefix(std::min(comma + 1, list.size()));
    }
  } else {
    chosen = history->latestRuns();
  }
  json runs = json::array();
  for (const auto& run : chosen) {
    runs.push_back({{"id", run.id},
                    {"name", run.name},
                    {"release", run.releaseId},
                    {"metrics", metricSeries(*history, run.id)}});
  }
  return jsonReply({{"runs", runs}});
}

http::HttpReply Dashboard::runs(const std::string& query) {
  deploy::local::StateDb* history = source_->history();
  if (!history) return jsonReply({{"runs", json::array()}, {"note", kNoHistory}});
  const auto values = parseQuery(query);
  deploy::local::RunFilter filter;
  if (values.count("name")) filter.name = values.at("name");
  if (values.count("status")) filter.status = values.at("status");
  if (values.count("release") && !values.at("release").empty()) {
    filter.release = parseId(values.at("release"));
    if (!filter.release) {
      return http::errorReply(
          400, fmt::format("release={} is not a release number", values.at("release")));
    }
  }
  if (values.count("limit")) {
    const auto limit = parseId(values.at("limit"));
    if (!limit)
      return http::errorReply(400, fmt::format("limit={} is not a number", values.at("limit")));
    filter.limit = static_cast<size_t>(std::min<int64_t>(*limit, 5000));
  }
  return jsonReply(deploy::local::historyJson(*history, filter));
}

http::HttpReply Dashboard::run(std::string_view idText) {
  const auto id = parseId(idText);
  if (!id) return http::errorReply(400, fmt::format("'{}' is not a run id (/api/runs/ID)", idText));
  deploy::local::StateDb* history = source_->history();
  if (!history) return http::errorReply(404, kNoHistory);
  const auto run = history->run(*id);
  if (!run) return http::errorReply(404, fmt::format("no run {} (it may have been pruned)", *id));
  json answer = deploy::local::runJson(*history, *run);
  answer["series"] = metricSeries(*history, run->id);
  return jsonReply(answer);
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
  std::optional<int64_t> run;
  if (const auto chosen = values.find("run"); chosen != values.end() && !chosen->second.empty()) {
    run = parseId(chosen->second);
    if (!run) return http::errorReply(400, fmt::format("run={} is not a run id", chosen->second));
  }
  return jsonReply(source_->logs(name->second, lines, run));
}

http::HttpReply Dashboard::models() {
  json servers = json::array();
  for (const auto& modelServer : source_->modelServers()) {
    json server = {
        {"name", modelServer.name}, {"endpoint", modelServer.endpoint}, {"href", modelServer.href}};
    try {
      const auto fetch = [&](const std::string& path) {
        http::Response response = source_->fetch(modelServer, path);
        if (response.status != 200) {
          throw Error(fmt::format("{}{} answered HTTP {}{}", modelServer.endpoint, path,
                                  response.status, errorMessageOf(response.body)));
        }
        return response.body;
      };
      json models = json::object();
      for (const auto& model : modelsInMetrics(fetch("/metrics"))) {
        const json status =
            json::parse(fetch("/v1/models/" + http::percentEncode(model, false)), nullptr, false);
        const auto labels = labelsOf(modelServer, model);
        json versions = json::array();
        if (status.contains("model_version_status")) {
          for (const auto& version : status["model_version_status"]) {
            const std::string number = version.value("version", "");
            const auto named = labels.find(std::atoll(number.c_str()));
            versions.push_back(
                {{"version", number},
                 {"state", version.value("state", "")},
                 {"labels", named != labels.end() ? named->second : std::vector<std::string>{}},
                 {"message",
                  version.contains("status") ? version["status"].value("error_message", "") : ""},
                 {"run", runLink(source_->history(), model, number)}});
          }
        }
        models[model] = versions;
      }
      server["models"] = models;
    } catch (const std::exception& e) {
      server["error"] = e.what();
    }
    server["health"] = health(modelServer.name);
    servers.push_back(server);
  }
  return jsonReply({{"servers", servers}});
}

std::map<int64_t, std::vector<std::string>> Dashboard::labelsOf(const ModelServer& server,
                                                                const std::string& model) {
  // A server without the labels API (an older skiff serve) shows none.
  const http::Response response =
      source_->fetch(server, "/v2/models/" + http::percentEncode(model, false) + "/labels");
  if (response.status != 200) return {};
  return deploy::labelsByVersion(json::parse(response.body, nullptr, false));
}

json Dashboard::health(const std::string& server) {
  // {MODEL: {VERSION: [{time, requestsPerSecond, errorsPerSecond, p50, p99}]}}
  json answer = json::object();
  std::lock_guard lock(samplesMutex_);
  const auto found = samples_.find(server);
  if (found == samples_.end()) return answer;
  const auto& kept = found->second;
  for (size_t i = 1; i < kept.size(); ++i) {
    const ServerSample& before = kept[i - 1];
    const ServerSample& after = kept[i];
    const double seconds = after.time - before.time;
    if (seconds <= 0) continue;
    for (const auto& [key, now] : after.versions) {
      const auto previous = before.versions.find(key);
      if (previous == before.versions.end()) continue;
      const VersionSample& then = previous->second;
      if (now.requests < then.requests) continue;  // the server restarted in between
      const auto p50 = quantile(0.5, then.latencyBuckets, now.latencyBuckets);
      const auto p99 = quantile(0.99, then.latencyBuckets, now.latencyBuckets);
      json& points = answer[key.first][key.second];
      if (points.is_null()) points = json::array();
      points.push_back({{"time", after.time},
                        {"requestsPerSecond", (now.requests - then.requests) / seconds},
                        {"errorsPerSecond", std::max(0.0, now.failures - then.failures) / seconds},
                        {"p50", p50 ? json(*p50) : json()},
                        {"p99", p99 ? json(*p99) : json()}});
    }
  }
  return answer;
}

int runDashboard(std::unique_ptr<Source> source, const std::string& what,
                 const DashboardOptions& options) {
  TerminationSignals signals;  // before any thread starts
  Dashboard dashboard(std::move(source), options.host);
  http::HttpServerOptions serverOptions;
  serverOptions.host = options.host;
  serverOptions.port = options.port;
  serverOptions.threads = 1;  // one request at a time: the page polls, nothing here is hot
  serverOptions.maxBodyBytes = 1 << 16;
  http::HttpServer server(
      [&dashboard](const http::HttpRequestView& request) { return dashboard.handle(request); },
      serverOptions);
  server.start();
  dashboard.startSampling(std::chrono::seconds(2));
  std::cerr << fmt::format("skiff dashboard: {} on http://{}:{}\n", what, options.host,
                           server.port())
            << std::flush;
  signals.wait();
  server.shutdown();
  server.wait();
  return 0;
}

}  // namespace skiff::dashboard
