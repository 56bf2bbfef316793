// skiff serve: the model server over a model repository in blob storage.

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "serve/client_bench.hpp"
#include "serve/engine_bench.hpp"
#include "serve/server.hpp"

namespace skiff::cli {
namespace {

struct ServeArguments {
  serve::ServeOptions options;
  std::string poll = "30";
  std::string maxBodySize = "64Mi";
  std::string controlMode = "poll";
  int64_t maxBatchSize = 0;
  std::string maxQueueDelay;
  std::vector<int64_t> preferredBatchSizes;
};

// --max-queue-delay reads as config.yaml's max_queue_delay does.
CLI::Validator queueDelayValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (serve::parseQueueDelay(value)) return {};
        return fmt::format(
            "\"{}\" is not a queue delay (up to 1s, like 2ms or 500us; a plain "
            "number is microseconds)",
            value);
      },
      "DELAY");
}

void addBatchingOptions(CLI::App& command, ServeArguments& arguments) {
  command
      .add_option("--max-batch-size", arguments.maxBatchSize,
                  "Dynamic batching of up to N rows for every model whose config.yaml sets "
                  "neither max_batch_size nor dynamic_batching (default: none)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  command
      .add_option("--max-queue-delay", arguments.maxQueueDelay,
                  "With --max-batch-size: the longest a request waits for others (2ms, 500us; "
                  "default 1ms)")
      ->check(queueDelayValidator());
  command
      .add_option("--preferred-batch-size", arguments.preferredBatchSizes,
                  "With --max-batch-size: rows that end the wait early (repeat for more)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
}

// The server's default batching from the flags; nothing without --max-batch-size.
std::optional<serve::DefaultBatching> defaultBatching(const ServeArguments& arguments) {
  if (arguments.maxBatchSize == 0) {
    if (!arguments.maxQueueDelay.empty() || !arguments.preferredBatchSizes.empty()) {
      throw Error("--max-queue-delay and --preferred-batch-size refine --max-batch-size",
                  "skiff serve", "add --max-batch-size N, the most rows one batch takes");
    }
    return std::nullopt;
  }
  serve::DefaultBatching batching;
  batching.maxBatchSize = arguments.maxBatchSize;
  if (!arguments.maxQueueDelay.empty()) {
    batching.batching.maxQueueDelay = *serve::parseQueueDelay(arguments.maxQueueDelay);
  }
  auto& preferred = batching.batching.preferredBatchSizes;
  preferred = arguments.preferredBatchSizes;
  std::sort(preferred.begin(), preferred.end());
  if (!preferred.empty() && preferred.back() > batching.maxBatchSize) {
    throw Error(fmt::format("--preferred-batch-size {} is above --max-batch-size {}",
                            preferred.back(), batching.maxBatchSize),
                "skiff serve", "give sizes up to --max-batch-size");
  }
  return batching;
}

// The hidden benches' KServe v2 JSON request body, at most the server's
// default body limit.
std::string readRequestFile(const std::string& path) {
  return readBoundedFile(path, 64ull << 20, "bench with a request under 64 MiB");
}

// Hidden: KServe v2 load over REST or gRPC from one client program, the
// two protocols' ratio bench/serve_grpc.sh prints.
void addClientBenchCommand(CLI::App& app) {
  auto options = std::make_shared<serve::ClientBenchOptions>();
  auto requestFile = std::make_shared<std::string>();
  auto typed = std::make_shared<bool>(false);
  CLI::App* command =
      app.add_subcommand("bench-clients", "Time KServe v2 infer calls over REST or gRPC");
  command->group("");
  command->add_option("--protocol", options->protocol)->check(CLI::IsMember({"rest", "grpc"}));
  command->add_option("--address", options->address, "HOST:PORT")->required();
  command->add_option("--model", options->model)->required();
  command->add_option("--request", *requestFile, "A KServe v2 JSON infer request file")->required();
  command->add_option("--clients", options->clients)->check(CLI::Range(1, 1024));
  command->add_option("--seconds", options->seconds)->check(CLI::Range(0.1, 3600.0));
  command->add_flag("--typed", *typed, "gRPC: typed contents instead of raw_input_contents");
  command->callback([options, requestFile, typed] {
    options->requestBody = readRequestFile(*requestFile);
    options->rawContents = !*typed;
    const serve::ClientBenchResult result = serve::benchClients(*options);
    std::cout << fmt::format("rps={:.0f} p50_us={:.1f} p99_us={:.1f} requests={}\n",
                             result.requestsPerSecond, result.p50Microseconds,
                             result.p99Microseconds, result.requests);
  });
}

}  // namespace

void addServeCommands(CLI::App& app, CommandContext& context) {
  addClientBenchCommand(app);
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
  addBatchingOptions(*command, *arguments);
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
    arguments->options.batching = defaultBatching(*arguments);
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
    const serve::EngineBenchResult result = serve::benchEngine(
        bench->model, readRequestFile(bench->request), bench->iterations, bench->engine);
    std::cout << fmt::format("p50_us={:.2f} p99_us={:.2f} iterations={}\n", result.p50Microseconds,
                             result.p99Microseconds, result.iterations);
  });
}

}  // namespace skiff::cli
