// skiff serve: the model server over a model repository in blob storage.

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.hpp"
#include "common/error.hpp"
#include "common/text.hpp"
#include "serve/engine_bench.hpp"
#include "serve/server.hpp"

namespace skiff::cli {
namespace {

struct ServeArguments {
  serve::ServeOptions options;
  std::string poll = "30";
  std::string maxBodySize = "64Mi";
  std::string controlMode = "poll";
};

}  // namespace

void addServeCommands(CLI::App& app, CommandContext& context) {
  auto arguments = std::make_shared<ServeArguments>();
  auto& options = arguments->options;
  CLI::App* command = app.add_subcommand(
      "serve", "Serve ONNX models from a model repository (KServe v2 and TF Serving REST APIs)");
  command
      ->add_option("--model-repository", options.repository,
                   "az://ACCOUNT/CONTAINER/PREFIX, file:///PATH or a local path holding "
                   "<model>/<version>/model.onnx")
      ->required();
  command
      ->add_option("--poll", arguments->poll,
                   "Seconds between repository polls for new or removed versions (5, 5s, 2m)")
      ->check(durationValidator(true))
      ->capture_default_str();
  command->add_option("--http-port", options.port, "HTTP port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command
      ->add_option("--grpc-port", options.grpcPort,
                   "KServe v2 gRPC port, with grpc.health.v1 for probes (0: any free port; "
                   "default: no gRPC)")
      ->check(CLI::Range(0, 65535));
  command
      ->add_option("--model-control-mode", arguments->controlMode,
                   "poll: serve every model of the repository, polled; explicit: only those "
                   "named by --load-model or loaded by POST /v2/repository/models/NAME/load")
      ->check(CLI::IsMember({"poll", "explicit"}))
      ->capture_default_str();
  command->add_option("--load-model", options.loadModels,
                      "A model explicit control loads at start (repeat for more)");
  command->add_option("--host", options.host, "Address to listen on")->capture_default_str();
  command
      ->add_option("--threads", options.threads,
                   "Request threads, and engine sessions per model version (default: cores)")
      ->check(CLI::Range(1, 1024));
  command
      ->add_option("--intra-op-threads", options.onnxruntime.threads,
                   "Threads ONNX Runtime's operators share across models (default: cores; "
                   "intra_op_threads in a model's config.yaml gives it a pool of its own)")
      ->check(CLI::Range(1, 1024));
  command->add_option("--onnxruntime-library", options.onnxruntime.library,
                      "libonnxruntime.so.1 to run models with, e.g. a GPU build (default: "
                      "$SKIFF_ONNXRUNTIME_LIBRARY, then next to the skiff binary)");
  command->add_option("--cache-dir", options.cacheDir,
                      "Local copies of the models (default /var/cache/skiff/serve-<id>)");
  command
      ->add_option("--max-body-size", arguments->maxBodySize,
                   "Largest request body; larger ones get 413")
      ->check(byteSizeValidator())
      ->capture_default_str();
  command->footer(
      "GET /v2/health/ready answers 200 once the repository was read once, even when it\n"
      "holds no model yet. Credentials for az:// come from the environment, as for\n"
      "`skiff blob`. See docs/serve.md.");
  command->callback([arguments, &context] {
    arguments->options.pollSeconds = *parseDurationSeconds(arguments->poll);
    arguments->options.maxBodyBytes = *parseByteSize(arguments->maxBodySize);
    arguments->options.controlMode = arguments->controlMode == "explicit"
                                         ? serve::ControlMode::kExplicit
                                         : serve::ControlMode::kPoll;
    context.exitCode = serve::runServe(arguments->options);
  });

  // Hidden: the engine's in-process latency, the limit bench/serve_latency.sh
  // compares the server with.
  struct BenchArguments {
    std::string model;
    std::string request;
    int iterations = 2000;
    serve::OnnxRuntimeOptions engine;
  };
  auto bench = std::make_shared<BenchArguments>();
  CLI::App* benchCommand =
      app.add_subcommand("bench-engine", "Time the serve engine alone on one request");
  benchCommand->group("");
  benchCommand->add_option("MODEL", bench->model, "model.onnx")->required();
  benchCommand->add_option("REQUEST", bench->request, "A KServe v2 JSON infer request file")
      ->required();
  benchCommand->add_option("--iterations", bench->iterations)->check(CLI::Range(1, 10000000));
  benchCommand->add_option("--intra-op-threads", bench->engine.threads)->check(CLI::Range(1, 1024));
  benchCommand->add_option("--onnxruntime-library", bench->engine.library);
  benchCommand->callback([bench] {
    std::ifstream in(bench->request);
    if (!in) throw Error("cannot read the request file", bench->request);
    std::stringstream body;
    body << in.rdbuf();
    const serve::EngineBenchResult result =
        serve::benchEngine(bench->model, body.str(), bench->iterations, bench->engine);
    std::cout << fmt::format("p50_us={:.2f} p99_us={:.2f} iterations={}\n", result.p50Microseconds,
                             result.p99Microseconds, result.iterations);
  });
}

}  // namespace skiff::cli
