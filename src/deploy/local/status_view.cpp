#include "deploy/local/status_view.hpp"

#include <fmt/format.h>
#include <string.h>

#include <ctime>
#include <deque>
#include <fstream>

#include "deploy/local/metrics.hpp"

namespace skiff::deploy::local {

namespace {

// The endpoint as its owner opens it: a notebook's with its login token,
// read from the private token file (the database holds none).
std::string shownEndpoint(StateDb& state, const RunRecord& run) {
  if (run.kind != "notebook" || run.endpoint.empty()) return run.endpoint;
  const std::string token = state.loginToken(run.name);
  return token.empty() ? run.endpoint : run.endpoint + "?token=" + token;
}

std::string duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f}m{:02.0f}s", seconds / 60, std::fmod(seconds, 60));
  return fmt::format("{:.0f}h{:02.0f}m", seconds / 3600, std::fmod(seconds / 60, 60));
}

double runSeconds(const RunRecord& run) {
  return (run.ended != 0 ? run.ended : nowSeconds()) - run.started;
}

std::string metricsText(StateDb& state, const RunRecord& run) {
  std::string text;
  for (const auto& metric : state.latestMetrics(run.id)) {
    text += fmt::format("{}{}={:g}", text.empty() ? "" : " ", metric.name, metric.value);
  }
  return text;
}

// Columns padded to their widest cell, the last one as it is.
std::string formatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string table;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], widths[i]) : row[i];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    table += line + "\n";
  }
  return table;
}

// "models: mlp v2 (canary), v1 (stable)" for a serve service's row.
std::string servedText(const ServedByService& served, const std::string& name) {
  const auto found = served.find(name);
  if (found == served.end()) return {};
  if (!found->second.error.empty()) return "models: " + found->second.error;
  return "models: " + describeServedModels(found->second.models);
}

}  // namespace

ServedByService askModelServers(StateDb& state) {
  http::ClientOptions options;
  // A server that hangs must not hold `skiff status` up for long.
  options.connectTimeout = std::chrono::seconds(2);
  options.stallTimeout = std::chrono::seconds(3);
  http::Client client(options);
  ServedByService served;
  for (const auto& run : state.latestRuns()) {
    if (run.kind != "serve" || run.status != "Ready" || run.endpoint.empty()) continue;
    try {
      served[run.name].models = readServedModels(client, run.endpoint);
    } catch (const std::exception& e) {
      served[run.name].error = e.what();
    }
  }
  return served;
}

std::vector<std::string> lastLines(const std::filesystem::path& file, size_t count) {
  std::ifstream in(file);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (last.size() > count) last.pop_front();
  }
  return {last.begin(), last.end()};
}

std::string statusTable(StateDb& state, const ServedByService& served) {
  const auto runs = state.latestRuns();
  if (runs.empty()) return "nothing has been released here yet (skiff release)\n";
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "KIND", "STATUS", "REPLICAS", "RESTARTS", "EXIT", "TIME", "DETAILS"}};
  for (const auto& run : runs) {
    int restarts = 0, running = 0;
    const auto replicas = state.replicas(run.id);
    for (const auto& replica : replicas) {
      restarts += replica.restarts;
      running += replica.pid != 0 ? 1 : 0;
    }
    std::string details = metricsText(state, run);
    for (const auto& extra :
         {shownEndpoint(state, run), servedText(served, run.name), run.message}) {
      if (!extra.empty()) details += (details.empty() ? "" : "  ") + extra;
    }
    rows.push_back({run.name, run.kind, run.status, fmt::format("{}/{}", running, replicas.size()),
                    std::to_string(restarts), run.exitCode ? std::to_string(*run.exitCode) : "-",
                    duration(runSeconds(run)), details});
  }
  return formatTable(rows);
}

namespace {
nlohmann::json optionalCode(const std::optional<int>& code) {
  return code ? nlohmann::json(*code) : nlohmann::json();
}
nlohmann::json signalOf(const std::optional<int>& code) {
  const auto signal = code ? exitSignal(*code) : std::nullopt;
  return signal ? nlohmann::json(*signal) : nlohmann::json();
}
}  // namespace

nlohmann::json runJson(StateDb& state, const RunRecord& run) {
  nlohmann::json replicas = nlohmann::json::array();
  for (const auto& replica : state.replicas(run.id)) {
    replicas.push_back({{"replica", replica.replica},
                        {"status", replica.status},
                        {"pid", replica.pid},
                        {"exitCode", optionalCode(replica.exitCode)},
                        {"signal", signalOf(replica.exitCode)},
                        {"restarts", replica.restarts},
                        {"log", replica.logPath}});
  }
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& metric : state.latestMetrics(run.id)) metrics[metric.name] = metric.value;
  nlohmann::json events = nlohmann::json::array();
  for (const auto& event : state.events(run.id)) {
    events.push_back({{"replica", event.replica},
                      {"time", event.time},
                      {"message", event.message},
                      {"exitCode", optionalCode(event.exitCode)},
                      {"signal", signalOf(event.exitCode)}});
  }
  nlohmann::json artifacts = nlohmann::json::array();
  for (const auto& artifact : state.artifacts(run.id)) {
    nlohmann::json item = {{"path", artifact.path}, {"uri", artifact.uri}, {"time", artifact.time}};
    if (!artifact.model.empty()) {
      item["server"] = artifact.server;
      item["model"] = artifact.model;
      item["version"] = artifact.version;
    }
    artifacts.push_back(item);
  }
  nlohmann::json params = nlohmann::json::parse(run.params, nullptr, false);
  if (!params.is_object()) params = nlohmann::json::object();
  return {{"id", run.id},
          {"name", run.name},
          {"kind", run.kind},
          {"release", run.releaseId},
          {"status", run.status},
          {"exitCode", optionalCode(run.exitCode)},
          {"signal", signalOf(run.exitCode)},
          {"message", run.message},
          {"endpoint", shownEndpoint(state, run)},
          {"started", run.started},
          {"ended", run.ended != 0 ? nlohmann::json(run.ended) : nlohmann::json()},
          {"seconds", runSeconds(run)},
          {"replicas", replicas},
          {"metrics", metrics},
          {"params", params},
          {"events", events},
          {"artifacts", artifacts}};
}

nlohmann::json statusJson(StateDb& state, const ServedByService& served) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& run : state.latestRuns()) {
    nlohmann::json item = runJson(state, run);
    if (const auto found = served.find(run.name); found != served.end()) {
      if (found->second.error.empty()) {
        item["models"] = servedModelsJson(found->second.models);
      } else {
        item["modelsError"] = found->second.error;
      }
    }
    runs.push_back(std::move(item));
  }
  return {{"runs", runs}};
}

nlohmann::json historyJson(StateDb& state, const RunFilter& filter) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& run : state.history(filter)) runs.push_back(runJson(state, run));
  return {{"runs", runs}};
}

std::string historyTable(StateDb& state, const RunFilter& filter) {
  const auto runs = state.history(filter);
  if (runs.empty()) {
    return filter.name.empty() && filter.status.empty() && !filter.release
               ? "no runs recorded here yet (skiff release)\n"
               : "no recorded run matches\n";
  }
  std::vector<std::vector<std::string>> rows = {{"RUN", "RELEASE", "NAME", "KIND", "STATUS", "EXIT",
                                                 "RESTARTS", "STARTED", "TIME", "DETAILS"}};
  for (const auto& run : runs) {
    int restarts = 0;
    for (const auto& replica : state.replicas(run.id)) restarts += replica.restarts;
    std::string details = metricsText(state, run);
    for (const auto& artifact : state.artifacts(run.id)) {
      if (!artifact.model.empty()) {
        details += fmt::format("{}wrote {} v{}", details.empty() ? "" : "  ", artifact.model,
                               artifact.version);
      }
    }
    if (!run.message.empty()) details += (details.empty() ? "" : "  ") + run.message;
    std::string exit = "-";
    if (run.exitCode) {
      exit = std::to_string(*run.exitCode);
      if (auto signal = exitSignal(*run.exitCode)) {
        const char* name = sigabbrev_np(*signal);
        if (name) exit += fmt::format(" (SIG{})", name);
      }
    }
    char started[32] = "-";
    const time_t when = static_cast<time_t>(run.started);
    struct tm local {};
    if (run.started > 0 && localtime_r(&when, &local)) {
      std::strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S", &local);
    }
    rows.push_back({std::to_string(run.id), std::to_string(run.releaseId), run.name, run.kind,
                    run.status, exit, std::to_string(restarts), started, duration(runSeconds(run)),
                    details});
  }
  return formatTable(rows);
}

std::string describeOutcome(StateDb& state, const RunRecord& run) {
  if (!run.endpoint.empty() && run.status == "Ready") {
    return fmt::format("{} {} at {}", run.name, run.status, shownEndpoint(state, run));
  }
  const std::string metrics = metricsText(state, run);
  return fmt::format("{} {} in {}{}", run.name, run.status, duration(runSeconds(run)),
                     metrics.empty() ? "" : " (" + metrics + ")");
}

}  // namespace skiff::deploy::local
