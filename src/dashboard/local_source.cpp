// The dashboard over the local target: its state database (as `skiff
// status` reads it), the log files it names, and the model servers on loopback.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mutex>

#include "dashboard/source.hpp"
#include "deploy/local/state.hpp"
#include "deploy/local/status_view.hpp"

namespace skiff::dashboard {
namespace {

using nlohmann::json;

class LocalSource : public Source {
 public:
  explicit LocalSource(const std::filesystem::path& projectDir) : state_(projectDir) {
    http::ClientOptions options;
    // A model server that does not answer must not hold the page up.
    options.connectTimeout = std::chrono::seconds(2);
    options.stallTimeout = std::chrono::seconds(5);
    client_ = std::make_unique<http::Client>(options);
  }

  std::string target() const override { return "local"; }

  json status() override {
    json status = deploy::local::statusJson(state_);
    status["target"] = target();
    return status;
  }

  json logs(const std::string& name, size_t lines, std::optional<int64_t> runId) override {
    auto run = runId ? state_.run(*runId) : state_.latestRun(name);
    if (runId && (!run || run->name != name)) {
      throw RequestError(404, fmt::format("no run {} of '{}'", *runId, name));
    }
    if (!run) {
      std::vector<std::string> known;
      for (const auto& each : state_.latestRuns()) known.push_back(each.name);
      throw RequestError(
          404, fmt::format("no job or service named '{}' (known: {})", name,
                           known.empty() ? "none yet" : fmt::format("{}", fmt::join(known, ", "))));
    }
    json replicas = json::object();
    for (const auto& replica : state_.replicas(run->id)) {
      replicas[replica.replica] = deploy::local::lastLines(replica.logPath, lines);
    }
    return {{"name", run->name}, {"run", run->id}, {"replicas", replicas}};
  }

  std::vector<ModelServer> modelServers() override {
    std::vector<ModelServer> servers;
    for (const auto& run : state_.latestRuns()) {
      if (run.kind != "serve" || run.endpoint.empty()) continue;
      servers.push_back({run.name, run.endpoint, run.endpoint, run.ended == 0});
    }
    return servers;
  }

  http::Response fetch(const ModelServer& server, const std::string& path) override {
    http::Request request;
    request.url = server.endpoint + path;
    std::lock_guard lock(clientMutex_);
    return client_->send(request);
  }

  deploy::local::StateDb* history() override { return &state_; }

 private:
  deploy::local::StateDb state_;
  std::mutex clientMutex_;  // the page's thread and the sampler share the client
  std::unique_ptr<http::Client> client_;
};

}  // namespace

std::unique_ptr<Source> makeLocalSource(const std::filesystem::path& projectDir) {
  return std::make_unique<LocalSource>(projectDir);
}

}  // namespace skiff::dashboard
