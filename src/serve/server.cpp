#include "serve/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "blob/blob_store.hpp"
#include "blob/uri.hpp"
#include "common/error.hpp"
#include "common/signals.hpp"
#include "http/server.hpp"
#include "serve/grpc_server.hpp"
#include "serve/model_manager.hpp"
#include "serve/router.hpp"

namespace skiff::serve {
namespace fs = std::filesystem;
namespace {

std::string defaultCacheDir(const std::string& repository) {
  const std::string id = fmt::format("{:016x}", std::hash<std::string>{}(repository));
  std::error_code error;
  const fs::path system = "/var/cache/skiff";
  fs::create_directories(system, error);
  if (!error && ::access(system.c_str(), W_OK) == 0) return (system / ("serve-" + id)).string();
  return (fs::temp_directory_path() / ("skiff-serve-" + id)).string();
}

}  // namespace

int runServe(const ServeOptions& options) {
  TerminationSignals signals;  // before any thread starts

  const blob::BlobUri uri = blob::parseBlobUri(options.repository);
  std::unique_ptr<blob::BlobStore> store = blob::openStore(uri);
  std::string prefix = uri.path;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ManagerOptions managerOptions;
  managerOptions.cacheDir =
      options.cacheDir.empty() ? defaultCacheDir(uri.toString()) : options.cacheDir;
  fs::create_directories(managerOptions.cacheDir);
  managerOptions.mode = options.controlMode;
  managerOptions.startModels = options.loadModels;
  managerOptions.pollSeconds = options.pollSeconds;
  managerOptions.batching = options.batching;
  if (options.controlMode == ControlMode::kPoll && !options.loadModels.empty()) {
    throw Error("--load-model names the models explicit model control loads at start",
                "skiff serve --load-model " + options.loadModels.front(),
                "add --model-control-mode explicit (in poll mode every model of the repository "
                "is served)");
  }

  std::unique_ptr<Engine> engine = makeOnnxRuntimeEngine(options.onnxruntime);
  Metrics metrics;
  ModelManager manager(*store, prefix, *engine, metrics, managerOptions);
  Router router(manager, metrics);
  http::HttpServerOptions serverOptions;
  serverOptions.host = options.host;
  serverOptions.port = options.port;
  serverOptions.threads = threads;
  serverOptions.maxBodyBytes = options.maxBodyBytes;
  const http::HttpServer* served = nullptr;  // set before the server starts
  http::HttpServer server(
      [&router, &served](const HttpRequestView& request) {
        HttpReply reply = router.handle(request);
        // The connection cap is the HTTP server's: its lines join the router's.
        if (reply.status == 200 &&
            request.target.substr(0, request.target.find('?')) == "/metrics") {
          reply.body += http::renderStats(served->stats());
        }
        return reply;
      },
      serverOptions);
  served = &server;
  server.start();
  std::unique_ptr<GrpcServer> grpc;
  if (options.grpcPort >= 0) {
    GrpcServerOptions grpcOptions;
    grpcOptions.host = options.host;
    grpcOptions.port = options.grpcPort;
    grpcOptions.maxMessageBytes = options.maxBodyBytes;
    grpc = std::make_unique<GrpcServer>(manager, metrics, grpcOptions);
    grpc->start();
  }
  std::cerr << fmt::format(
      "skiff serve: {} on http://{}:{}{} ({} control, {} threads, engine {}, {}"
      "cache {})\n",
      uri.toString(), options.host, server.port(),
      grpc ? fmt::format(" and grpc://{}:{}", options.host, grpc->port()) : "",
      options.controlMode == ControlMode::kPoll ? "poll" : "explicit", threads, engine->name(),
      options.batching
          ? fmt::format("batching up to {} rows by default, ", options.batching->maxBatchSize)
          : "",
      managerOptions.cacheDir.string());

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread poller([&] {
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      manager.poll();
      lock.lock();
      wake.wait_for(lock, std::chrono::duration<double>(options.pollSeconds),
                    [&] { return stopping; });
    }
  });

  const int signal = signals.wait();
  std::cerr << fmt::format("skiff serve: {}, draining requests in flight\n",
                           signal == SIGINT ? "interrupted" : "terminated");
  server.shutdown();
  if (grpc) grpc->shutdown();
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  server.wait();
  if (grpc) grpc->wait();
  poller.join();
  std::cerr << "skiff serve: stopped\n";
  return 0;
}

}  // namespace skiff::serve
