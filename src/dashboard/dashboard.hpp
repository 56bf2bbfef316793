#pragma once

// `skiff dashboard`: a web page over the local target's state, for people
// watching a project: what runs (status, exit codes, restarts, endpoints),
// metric plots, log tails, and the model versions each `skiff serve` of the
// project has loaded. It only reads: the state database (as `skiff status`
// does), log files, and the model servers' own HTTP endpoints.

#include <filesystem>
#include <memory>
#include <string>

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
//   GET /api/metrics           every value of every metric of each latest run
//   GET /api/logs?name=N&lines=K  the last K lines of each replica's log
//   GET /api/models            model versions of each ready `serve`
class Dashboard {
 public:
  // `listenHost` is the address the dashboard listens on: requests naming
  // another host are refused (a web page must not reach it through DNS
  // rebinding: the status holds the notebook's login URL), unless it listens
  // on every address.
  explicit Dashboard(const std::filesystem::path& projectDir, std::string listenHost = "127.0.0.1");
  ~Dashboard();
  http::HttpReply handle(const http::HttpRequestView& request);

 private:
  http::HttpReply metrics();
  http::HttpReply logs(const std::string& query);
  http::HttpReply models();
  bool allowedHost(std::string_view host) const;

  std::unique_ptr<deploy::local::StateDb> state_;
  std::unique_ptr<http::Client> client_;
  std::string listenHost_;
};

struct DashboardOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
};

// Serves the dashboard of the project in `projectDir` until SIGINT or SIGTERM.
int runDashboard(const std::filesystem::path& projectDir, const DashboardOptions& options);

}  // namespace skiff::dashboard
