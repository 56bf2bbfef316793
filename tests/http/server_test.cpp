// The HTTP server under hostile clients: duplicate Host headers, idle
// connections past the cap, and a process out of file descriptors.

#include "http/server.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "harness/services.hpp"

namespace skiff::http {
namespace {

using Clock = std::chrono::steady_clock;
using skiff::testing::httpGet;
using skiff::testing::TempDir;

HttpReply hello(const HttpRequestView&) {
  HttpReply reply;
  reply.contentType = "text/plain";
  reply.body = "hello";
  return reply;
}

// Idle clients: connected, never sending a byte.
struct IdleClients {
  std::vector<int> fds;
  IdleClients(int port, int count) {
    for (int i = 0; i < count; ++i) {
      const int fd = connectLoopback(port, 1);
      if (fd >= 0) fds.push_back(fd);
    }
  }
  ~IdleClients() {
    for (const int fd : fds) ::close(fd);
  }
};

// A normal client: retries until the deadline; true once it got a 200.
bool normalClientGetsAnswers(int port, const std::string& path, std::chrono::seconds within) {
  const auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    try {
      if (httpGet(port, path).rfind("HTTP/1.1 200", 0) == 0) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void raiseOwnDescriptorLimit() {
  struct rlimit limit {};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4096);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

TEST(HttpServer, TwoHostHeadersAre400) {
  HttpServerOptions options;
  options.port = 0;
  HttpServer server(hello, options);
  server.start();
  const std::string one = skiff::testing::rawExchange(
      server.port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(one.rfind("HTTP/1.1 200", 0), 0u) << one;
  const std::string two = skiff::testing::rawExchange(
      server.port(),
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(two.rfind("HTTP/1.1 400", 0), 0u) << two;
  EXPECT_NE(two.find("more than one Host header"), std::string::npos) << two;
}

TEST(HttpServer, IdleConnectionsPastTheCapDoNotLockOthersOut) {
  HttpServerOptions options;
  options.port = 0;
  options.maxConnections = 8;
  HttpServer server(hello, options);
  server.start();
  IdleClients idle(server.port(), 40);
  EXPECT_TRUE(normalClientGetsAnswers(server.port(), "/", std::chrono::seconds(10)));
  const auto stats = server.stats();
  EXPECT_EQ(stats.maxConnections, 8u);
  EXPECT_LE(stats.connections, 9u);
  EXPECT_GE(stats.evicted, 32u);
  EXPECT_EQ(stats.refused, 0u);
  EXPECT_NE(renderStats(stats).find("skiff_http_max_connections 8\n"), std::string::npos);
}

// CPU seconds (user + system) the process used so far.
double cpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// `skiff serve` with `ulimit -n 128` and more idle connections than that:
// the accept loop burned a core on EMFILE and no client got in.
void serveOutOfDescriptors(const std::map<std::string, std::string>& env,
                           const std::string& expectedLimit, bool runsOut) {
  raiseOwnDescriptorLimit();
  TempDir dir("skiff-http-fds");
  std::filesystem::create_directories(dir / "models");
  const int port = freeLoopbackPort();
  SpawnOptions options;
  options.extraEnv = env;
  options.stderrFile = dir / "serve.log";
  Subprocess serve({"sh", "-c",
                    fmt::format("ulimit -n 128 && exec {} serve --model-repository {} --http-port "
                                "{} --threads 2 --cache-dir {}",
                                skiff::testing::skiffBinary(), (dir / "models").string(), port,
                                (dir / "cache").string())},
                   options);
  ASSERT_TRUE(normalClientGetsAnswers(port, "/v2/health/ready", std::chrono::seconds(30)));

  IdleClients idle(port, 300);
  ASSERT_GT(idle.fds.size(), 200u);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double before = cpuSeconds(serve.pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double used = cpuSeconds(serve.pid()) - before;
  EXPECT_LT(used, 0.5) << "the server spins: " << used << " s of CPU in 2 s";
  std::cerr << "skiff serve used " << used << " s of CPU in 2 s with " << idle.fds.size()
            << " idle connections\n";
  EXPECT_TRUE(normalClientGetsAnswers(port, "/v2/health/ready", std::chrono::seconds(15)))
      << "a normal client is locked out";
  const std::string metrics = httpGet(port, "/metrics");
  EXPECT_NE(metrics.find("skiff_http_max_connections " + expectedLimit + "\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("skiff_http_connections "), std::string::npos) << metrics;
  if (runsOut) {
    EXPECT_EQ(metrics.find("skiff_http_accept_errors_total 0\n"), std::string::npos) << metrics;
  }
  serve.stop();
}

TEST(HttpServer, ServeOutOfDescriptorsNeitherSpinsNorLocksClientsOut) {
  // A limit above the descriptors there are: accept fails with EMFILE.
  serveOutOfDescriptors({{"SKIFF_MAX_CONNECTIONS", "1000"}}, "1000", true);
}

TEST(HttpServer, ServeCapsConnectionsBelowTheDescriptorLimit) {
  serveOutOfDescriptors({}, "64", false);
}

}  // namespace
}  // namespace skiff::http
