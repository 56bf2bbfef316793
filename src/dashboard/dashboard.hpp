#pragma once

// `skiff dashboard`: a web page over a project's target, for people
// watching it: what runs (status, exit codes, restarts in words, endpoints;
// on Kubernetes the release's objects and pods with why they wait), the run
// history with parameters and comparison, metric charts (local), log tails,
// and the model versions each `skiff serve` of the project has loaded with
// their health over time and the run that wrote each. It only reads: a
// Source (dashboard/source.hpp) and the model servers' /metrics, sampled.

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "dashboard/source.hpp"
#include "http/server.hpp"

namespace skiff::dashboard {

// The page and its JSON API, transport-free (tests call handle() directly):
//   GET /                      the page
//   GET /api/status            what `skiff status --json` prints, and "target"
//   GET /api/runs?name=&status=&release=&limit=  the run history (`skiff runs --json`;
//                              empty, with a "note", where the target keeps none)
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
  Dashboard(std::unique_ptr<Source> source, std::string listenHost = "127.0.0.1");
  // The local target's dashboard of the project in `projectDir`.
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
  // Version -> the labels naming it, as the server answers GET .../labels.
  std::map<int64_t, std::vector<std::string>> labelsOf(const ModelServer& server,
                                                       const std::string& model);
  nlohmann::json health(const std::string& server);
  bool allowedHost(std::string_view host) const;

  std::unique_ptr<Source> source_;
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

// Serves the dashboard of `source` until SIGINT or SIGTERM; `what` names it
// in the line that says where it listens.
int runDashboard(std::unique_ptr<Source> source, const std::string& what,
                 const DashboardOptions& options);

}  // namespace skiff::dashboard
