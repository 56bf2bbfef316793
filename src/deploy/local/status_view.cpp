#include "deploy/local/status_view.hpp"

#include <fmt/format.h>

#include <deque>
#include <fstream>

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

}  // namespace

std::vector<std::string> lastLines(const std::filesystem::path& file, size_t count) {
  std::ifstream in(file);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (last.size() > count) last.pop_front();
  }
  return {last.begin(), last.end()};
}

std::string statusTable(StateDb& state) {
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
    for (const auto& extra : {shownEndpoint(state, run), run.message}) {
      if (!extra.empty()) details += (details.empty() ? "" : "  ") + extra;
    }
    rows.push_back({run.name, run.kind, run.status, fmt::format("{}/{}", running, replicas.size()),
                    std::to_string(restarts), run.exitCode ? std::to_string(*run.exitCode) : "-",
                    duration(runSeconds(run)), details});
  }
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

nlohmann::json statusJson(StateDb& state) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& run : state.latestRuns()) {
    nlohmann::json replicas = nlohmann::json::array();
    for (const auto& replica : state.replicas(run.id)) {
      replicas.push_back(
          {{"replica", replica.replica},
           {"status", replica.status},
           {"pid", replica.pid},
           {"exitCode", replica.exitCode ? nlohmann::json(*replica.exitCode) : nlohmann::json()},
           {"restarts", replica.restarts},
           {"log", replica.logPath}});
    }
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& metric : state.latestMetrics(run.id)) metrics[metric.name] = metric.value;
    runs.push_back({{"name", run.name},
                    {"kind", run.kind},
                    {"release", run.releaseId},
                    {"status", run.status},
                    {"exitCode", run.exitCode ? nlohmann::json(*run.exitCode) : nlohmann::json()},
                    {"message", run.message},
                    {"endpoint", shownEndpoint(state, run)},
                    {"started", run.started},
                    {"ended", run.ended != 0 ? nlohmann::json(run.ended) : nlohmann::json()},
                    {"seconds", runSeconds(run)},
                    {"replicas", replicas},
                    {"metrics", metrics}});
  }
  return {{"runs", runs}};
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
