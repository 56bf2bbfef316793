#pragma once

// `skiff dashboard`: a web page over the local target's state, for people
// watching a project: what runs (status, exit codes, restarts in words,
// endpoints), the run history with parameters and comparison, metric
// charts, log tails, and the model versions each `skiff serve` of the
// project has loaded with their health over time and the run that wrote
// each. It only reads: the state database (as `skiff status` does), log
// files, and the model servers' own HTTP endpoints (/metrics, sampled).

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "http/server.hpp"

namespace skiff::deploy::local {
class StateDb;
}
namespace skiff::http {
class Client;
}

namespace skiff::dashboard {

// The page and its JSON API, transport-free (tests call handle() directly):
//   GET /                      the page
//   GET /api/status            what `skiff status --json` prints
//   GET /api/runs?name=&status=&release=&limit=  the run history (`skiff runs --json`)
//   GET /api/runs/ID           one run with every value of its metrics
//   GET /api/metrics[?runs=ID,ID]  every value of every metric of each latest (or named) run
//   GET /api/logs?name=N&lines=K[&run=ID]  the last K lines of each replica's log
//   GET /api/models            model versions of each ready `serve`, the run that
//                              wrote each, and its requests/s, latency and errors over time
class Dashboard {
 public:
  // `listenHost` is the address the dashboard listens on: requests naming
  // another host are refused (a web page must not reach it through DNS
  // rebinding: the status holds the notebook's login URL), unless it listens
  // on every address.
  explicit Dashboard(const std::filesystem::path& projectDir, std::string listenHost = "127.0.0.1");
  ~Dashboard();
  http::HttpReply handle(const http::HttpRequestView& request);

  // Reads /metrics of every ready `serve` once, for the health charts.
  void sampleServers();
  // Samples every `interval` on a thread of its own until destruction.
  void startSampling(std::chrono::milliseconds interval);

 private:
  // One scrape of one version's counters.
  struct VersionSample {
    double requests = 0;
    double failures = 0;
    std::vector<std::pair<double, double>> latencyBuckets;  // (le, cumulative count)
  };
  struct ServerSample {
    double time = 0;
    std::map<std::pair<std::string, std::string>, VersionSample> versions;
  };

  http::HttpReply metrics(const std::string& query);
  http::HttpReply runs(const std::string& query);
  http::HttpReply run(std::string_view id);
  http::HttpReply logs(const std::string& query);
  http::HttpReply models();
  nlohmann::json health(const std::string& server);
  bool allowedHost(std::string_view host) const;

  std::unique_ptr<deploy::local::StateDb> state_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<http::Client> samplerClient_;
  std::string listenHost_;
  std::mutex samplesMutex_;
  std::map<std::string, std::deque<ServerSample>> samples_;  // by serve name
  std::mutex stopMutex_;
  std::condition_variable stopSignal_;
  bool stopping_ = false;
  std::thread sampler_;
};

struct DashboardOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
};

// Serves the dashboard of the project in `projectDir` until SIGINT or SIGTERM.
int runDashboard(const std::filesystem::path& projectDir, const DashboardOptions& options);

}  // namespace skiff::dashboard
