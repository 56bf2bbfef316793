// Dynamic batching of one model version, driven directly (no HTTP), on a fake
// engine whose runs the test can hold and inspect: the MLP's signature
// (x: [-1, 16] -> y: [-1, 4]) from make_models.py, and a session that gives
// each row its first value times 1..4, records the rows of every run, blocks
// while a row starts with kHold, and refuses a run holding a row that starts
// with kBad (as ONNX Runtime refuses an id past an Embedding's vocabulary).

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "serve/metrics.hpp"
#include "serve/model_version.hpp"
#include "serve_fixture.hpp"

namespace skiff::serve::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr float kHold = 777;
constexpr float kBad = -999;

struct EngineLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int64_t> runs;  // rows of each run, in order
  bool released = false;
  int holding = 0;  // runs blocked on kHold

  void release() {
    std::lock_guard lock(mutex);
    released = true;
    changed.notify_all();
  }
  void waitHolding(int count) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return holding >= count; });
  }
  std::vector<int64_t> snapshot() {
    std::lock_guard lock(mutex);
    return runs;
  }
};

class FakeSession : public Session {
 public:
  explicit FakeSession(EngineLog& log) : log_(log) {}
  std::vector<Tensor> run(std::span<const Tensor> inputs,
                          std::span<const TensorSpec> outputs) const override {
    const Tensor& x = inputs.front();
    const int64_t rows = x.shape[0];
    const auto values = x.values<float>();
    bool hold = false;
    bool bad = false;
    for (int64_t r = 0; r < rows; ++r) {
      hold = hold || values[static_cast<size_t>(r * 16)] == kHold;
      bad = bad || values[static_cast<size_t>(r * 16)] == kBad;
    }
    {
      std::unique_lock lock(log_.mutex);
      log_.runs.push_back(rows);
      if (hold) {
        ++log_.holding;
        log_.changed.notify_all();
        log_.changed.wait(lock, [&] { return log_.released; });
      }
    }
    if (bad) throw RequestError(400, "index out of range");
    std::vector<double> y;
    for (int64_t r = 0; r < rows; ++r) {
      for (int k = 1; k <= 4; ++k) y.push_back(values[static_cast<size_t>(r * 16)] * k);
    }
    std::vector<Tensor> results;
    results.push_back(makeTensor(outputs.front().name, DataType::kFp32, {rows, 4}, y));
    return results;
  }

 private:
  EngineLog& log_;
};

class FakeEngine : public Engine {
 public:
  explicit FakeEngine(EngineLog& log) : log_(log) {}
  std::string name() const override { return "fake"; }
  std::unique_ptr<Session> load(const std::filesystem::path&, const Signature&,
                                const SessionSettings&) override {
    return std::make_unique<FakeSession>(log_);
  }

 private:
  EngineLog& log_;
};

class Batching : public ::testing::Test {
 protected:
  std::shared_ptr<ModelVersion> load(std::chrono::microseconds delay,
                                     std::vector<int64_t> preferred = {}) {
    LoadSettings settings;
    settings.maxBatchSize = 16;
    settings.batching = DynamicBatching{delay, std::move(preferred)};
    auto version =
        ModelVersion::load(engine_, "mlp", 1, modelDir() / "mlp.onnx", settings, metrics_);
    std::lock_guard lock(log_.mutex);
    log_.runs.clear();  // the load's own checks
    return version;
  }

  EngineLog log_;
  FakeEngine engine_{log_};
  VersionMetrics metrics_;
};

// `rows` rows, each starting with `first` (then its row number).
std::vector<Tensor> input(int64_t rows, float first) {
  std::vector<double> values;
  for (int64_t r = 0; r < rows; ++r) {
    values.push_back(first + static_cast<float>(r));
    for (int k = 1; k < 16; ++k) values.push_back(0);
  }
  std::vector<Tensor> inputs;
  inputs.push_back(makeTensor("x", DataType::kFp32, {rows, 16}, values));
  return inputs;
}

void expectRows(const std::vector<Tensor>& outputs, int64_t rows, float first) {
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].shape, Shape({rows, 4}));
  const auto y = outputs[0].values<float>();
  ASSERT_EQ(y.size(), static_cast<size_t>(rows * 4));
  for (int64_t r = 0; r < rows; ++r) {
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(y[static_cast<size_t>(r * 4 + k)], (first + static_cast<float>(r)) * (k + 1))
          << "row " << r;
    }
  }
}

// As many batches run at once as there are cores (without `instances`):
// starts one held request per core, each blocking in the engine.
const int kSlots = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

struct Held {
  std::vector<std::future<std::vector<Tensor>>> requests;
  void get() {
    for (auto& request : requests) expectRows(request.get(), 1, kHold);
  }
};

Held holdTheEngine(const ModelVersion& version, EngineLog& log) {
  Held held;
  for (int i = 1; i <= kSlots; ++i) {
    held.requests.push_back(
        std::async(std::launch::async, [&] { return version.infer(input(1, kHold)); }));
    log.waitHolding(i);
  }
  return held;
}

// The held runs, then `rest`.
std::vector<int64_t> afterHeld(std::vector<int64_t> rest) {
  std::vector<int64_t> runs(static_cast<size_t>(kSlots), 1);
  runs.insert(runs.end(), rest.begin(), rest.end());
  return runs;
}

TEST_F(Batching, AnIdleVersionRunsARequestAtOnce) {
  // A delay of a second: waiting for it would show.
  auto version = load(1s);
  for (int i = 0; i < 20; ++i) {
    const auto start = Clock::now();
    expectRows(version->infer(input(2, 10)), 2, 10);
    EXPECT_LT(Clock::now() - start, 200ms);
  }
  EXPECT_EQ(log_.snapshot(), std::vector<int64_t>(20, 2));
}

TEST_F(Batching, RequestsOfDifferentSizesShareABatchAndGetTheirOwnRows) {
  auto version = load(1s, {6});
  auto held = holdTheEngine(*version, log_);
  // 1 + 2 + 3 rows: the preferred 6 ends the wait before the delay.
  std::vector<std::future<std::vector<Tensor>>> requests;
  for (int64_t rows = 1; rows <= 3; ++rows) {
    requests.push_back(std::async(std::launch::async, [&, rows] {
      return version->infer(input(rows, static_cast<float>(100 * rows)));
    }));
  }
  const auto start = Clock::now();
  for (int64_t rows = 1; rows <= 3; ++rows) {
    expectRows(requests[static_cast<size_t>(rows - 1)].get(), rows, static_cast<float>(100 * rows));
  }
  EXPECT_LT(Clock::now() - start, 500ms);
  EXPECT_EQ(log_.snapshot(), afterHeld({6}));
  log_.release();
  held.get();
  EXPECT_EQ(metrics_.batches, static_cast<uint64_t>(kSlots) + 1);
  EXPECT_EQ(metrics_.batchedRequests, static_cast<uint64_t>(kSlots) + 3);
}

TEST_F(Batching, TheQueueDelayEndsTheWaitWhileTheEngineIsBusy) {
  auto version = load(50ms);
  auto held = holdTheEngine(*version, log_);
  const auto start = Clock::now();
  auto first = std::async(std::launch::async, [&] { return version->infer(input(1, 1)); });
  auto second = std::async(std::launch::async, [&] { return version->infer(input(2, 5)); });
  expectRows(first.get(), 1, 1);
  expectRows(second.get(), 2, 5);
  // They waited for each other, not for the batch that still holds the engine.
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 45ms);
  EXPECT_LT(waited, 1s);
  EXPECT_EQ(log_.snapshot(), afterHeld({3})) << "the two requests ran as one batch";
  log_.release();
  held.get();
}

TEST_F(Batching, TheEngineFreeingUpEndsTheWait) {
  auto version = load(1s);
  auto held = holdTheEngine(*version, log_);
  auto queued = std::async(std::launch::async, [&] { return version->infer(input(1, 3)); });
  std::this_thread::sleep_for(50ms);  // it queues behind the held batch
  const auto start = Clock::now();
  log_.release();
  expectRows(queued.get(), 1, 3);
  EXPECT_LT(Clock::now() - start, 500ms);  // not the second of max_queue_delay
  held.get();
}

TEST_F(Batching, ABadRequestFailsAloneAndItsBatchStillAnswers) {
  auto version = load(1s, {4});
  auto held = holdTheEngine(*version, log_);
  std::vector<std::future<std::vector<Tensor>>> requests;
  for (const float first : {1.0f, kBad, 3.0f, 4.0f}) {
    requests.push_back(
        std::async(std::launch::async, [&, first] { return version->infer(input(1, first)); }));
  }
  expectRows(requests[0].get(), 1, 1);
  try {
    requests[1].get();
    ADD_FAILURE() << "the bad request succeeded";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_STREQ(e.what(), "index out of range");
  }
  expectRows(requests[2].get(), 1, 3);
  expectRows(requests[3].get(), 1, 4);
  // The batch of 4 failed, then each of its requests ran alone.
  EXPECT_EQ(log_.snapshot(), afterHeld({4, 1, 1, 1, 1}));
  // A request that does not fit the signature fails before it queues.
  std::vector<Tensor> wrong;
  wrong.push_back(makeTensor("x", DataType::kFp32, {1, 15}, std::vector<double>(15)));
  try {
    version->infer(std::move(wrong));
    ADD_FAILURE() << "a wrong shape was accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_STREQ(e.what(), "input 'x': expected shape [-1, 16], given [1, 15]");
  }
  log_.release();
  held.get();
}

TEST_F(Batching, BatchSizesShowInTheMetrics) {
  auto version = load(1s, {3});
  auto held = holdTheEngine(*version, log_);
  std::vector<std::future<std::vector<Tensor>>> requests;
  for (int i = 0; i < 3; ++i) {
    requests.push_back(std::async(std::launch::async, [&] { return version->infer(input(1, 2)); }));
  }
  for (auto& request : requests) request.get();
  log_.release();
  held.get();
  std::string text;
  metrics_.batchSize.render(text, "b", "m=\"x\"");
  // 1 per held run, 3 (the batch), and the load's own check of 2 rows.
  auto line = [&](const std::string& key, int value) {
    EXPECT_NE(text.find(fmt::format("{} {}\n", key, value)), std::string::npos) << text;
  };
  line(R"(b_bucket{m="x",le="1"})", kSlots);
  line(R"(b_bucket{m="x",le="2"})", kSlots + 1);
  line(R"(b_bucket{m="x",le="4"})", kSlots + 2);
  line(R"(b_bucket{m="x",le="+Inf"})", kSlots + 2);
  line(R"(b_sum{m="x"})", kSlots + 5);
  line(R"(b_count{m="x"})", kSlots + 2);
}

// The whole /metrics page, parsed as Prometheus reads the text format:
// every sample line is NAME{LABELS} VALUE under its # TYPE, buckets grow, and
// +Inf equals _count.
TEST(ServeMetrics, PerVersionCountersAndHistogramsInPrometheusTextFormat) {
  ServedRepository served;
  served.putModel("mlp", 1, "mlp");
  served.put("mlp/config.yaml", "max_batch_size: 8\ndynamic_batching: {max_queue_delay: 1ms}\n");
  served.putModel("plain", 1, "mlp");
  ASSERT_TRUE(served.poll());
  const Json good = {{"inputs",
                      {{{"name", "x"},
                        {"shape", {2, 16}},
                        {"datatype", "FP32"},
                        {"data", std::vector<float>(32, 0.5f)}}}}};
  const Json bad = {{"inputs",
                     {{{"name", "x"},
                       {"shape", {1, 15}},
                       {"datatype", "FP32"},
                       {"data", std::vector<float>(15)}}}}};
  for (const char* model : {"mlp", "plain"}) {
    for (int i = 0; i < 5; ++i) served.postJson(fmt::format("/v2/models/{}/infer", model), good);
    served.postJson(fmt::format("/v2/models/{}/infer", model), bad, 400);
  }
  const http::Response response = served.get("/metrics");
  ASSERT_EQ(response.status, 200);
  const std::string& text = response.body;

  std::map<std::string, std::string> types;  // metric family -> its TYPE
  std::map<std::string, double> samples;     // name{labels} -> value
  std::vector<std::pair<std::string, double>> inOrder;
  std::istringstream lines(text);
  std::string line;
  const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (\S+)$)");
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ")) continue;
    if (line.starts_with("# TYPE ")) {
      std::istringstream fields(line.substr(7));
      std::string name, type;
      fields >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      EXPECT_FALSE(types.count(name)) << "TYPE twice: " << line;
      types[name] = type;
      continue;
    }
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, sample)) << "not a sample line: " << line;
    std::string family = match[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (family.ends_with(suffix) &&
          types.count(family.substr(0, family.size() - std::strlen(suffix)))) {
        family.resize(family.size() - std::strlen(suffix));
      }
    }
    EXPECT_TRUE(types.count(family)) << "no TYPE before " << line;
    samples[line.substr(0, line.rfind(' '))] = std::stod(match[5]);
    inOrder.emplace_back(line.substr(0, line.rfind(' ')), std::stod(match[5]));
  }
  auto value = [&](const std::string& key) {
    EXPECT_TRUE(samples.count(key)) << key << " missing from\n" << text;
    return samples.count(key) ? samples[key] : -1;
  };
  for (const char* model : {"mlp", "plain"}) {
    const std::string labels = fmt::format(R"(model="{}",version="1")", model);
    EXPECT_EQ(value("skiff_serve_inference_requests_total{" + labels + "}"), 6);
    EXPECT_EQ(value("skiff_serve_inference_failures_total{" + labels + "}"), 1);
    EXPECT_EQ(value("skiff_serve_request_duration_seconds_count{" + labels + "}"), 5);
    // The engine and the queue: the 5 requests and the load's own check of 2 rows.
    EXPECT_EQ(value("skiff_serve_inference_duration_seconds_count{" + labels + "}"), 6);
    EXPECT_EQ(value("skiff_serve_queue_duration_seconds_count{" + labels + "}"), 6);
    EXPECT_EQ(value("skiff_serve_batch_size_count{" + labels + "}"), 6);
    EXPECT_EQ(value("skiff_serve_batch_size_sum{" + labels + "}"), 12);
    EXPECT_EQ(value("skiff_serve_batch_size_bucket{" + labels + R"(,le="1"})"), 0);
    EXPECT_EQ(value("skiff_serve_batch_size_bucket{" + labels + R"(,le="2"})"), 6);
    for (const char* histogram : {"request_duration_seconds", "queue_duration_seconds",
                                  "inference_duration_seconds", "batch_size"}) {
      const std::string name = fmt::format("skiff_serve_{}", histogram);
      EXPECT_EQ(types[name], "histogram");
      double previous = 0;
      for (const auto& [key, count] : inOrder) {
        if (!key.starts_with(name + "_bucket{" + labels)) continue;
        EXPECT_GE(count, previous) << key;
        previous = count;
      }
      EXPECT_EQ(value(name + "_bucket{" + labels + R"(,le="+Inf"})"),
                value(name + "_count{" + labels + "}"));
      EXPECT_GT(value(name + "_sum{" + labels + "}"), 0);
    }
  }
  EXPECT_EQ(value(R"(skiff_serve_batches_total{model="mlp",version="1"})"), 5);
  EXPECT_EQ(value(R"(skiff_serve_batched_requests_total{model="mlp",version="1"})"), 5);
  EXPECT_EQ(value(R"(skiff_serve_batches_total{model="plain",version="1"})"), 0);
  EXPECT_EQ(types["skiff_serve_inference_requests_total"], "counter");
  EXPECT_EQ(value(R"(skiff_serve_loaded_versions{model="mlp"})"), 1);
}

// A KServe v2 request of `rows` rows of the MLP's 16 values.
Json mlpRequest(int64_t rows) {
  return {{"inputs",
           {{{"name", "x"},
             {"shape", {rows, 16}},
             {"datatype", "FP32"},
             {"data", std::vector<float>(static_cast<size_t>(rows * 16), 0.5f)}}}}};
}

// `skiff serve --max-batch-size` (what skiff.yaml's `batching` passes):
// every model whose config.yaml sets no batching of its own batches with it;
// one that sets max_batch_size keeps its own, and one without a batch
// dimension serves unbatched rather than failing.
TEST(ServeBatchingCommand, TheServersBatchingAppliesToModelsWithoutTheirOwn) {
  skiff::testing::TempDir repository("skiff-serve-repo");
  repository.write("models/mlp/1/model.onnx", modelBytes("mlp"));
  repository.write("models/own/1/model.onnx", modelBytes("mlp"));
  repository.write("models/own/config.yaml", "max_batch_size: 2\n");
  repository.write("models/fixed/1/model.onnx", modelBytes("add_v1"));
  repository.write("models/fixed/config.yaml", "inputs: [{name: x, shape: [2, 3]}]\n");
  skiff::testing::TempDir cache("skiff-serve-cache");
  const int port = skiff::testing::freeLoopbackPort();
  const std::unique_ptr<Subprocess> server = startServe(
      {"--model-repository", "file://" + (repository.path() / "models").string(), "--cache-dir",
       (cache.path() / "c").string(), "--threads", "2", "--max-batch-size", "8",
       "--max-queue-delay", "500us", "--preferred-batch-size", "4"},
      port, cache.path() / "serve.log");
  ASSERT_TRUE(server);
  http::Client client;
  const auto infer = [&](const std::string& model, const Json& body) {
    const std::string text = body.dump();  // the request views it
    http::Request request;
    request.method = "POST";
    request.url = fmt::format("http://127.0.0.1:{}/v2/models/{}/infer", port, model);
    request.body = text;
    return client.send(request);
  };
  EXPECT_EQ(infer("mlp", mlpRequest(8)).status, 200);
  http::Response response = infer("mlp", mlpRequest(9));
  EXPECT_EQ(response.status, 400) << "the server's max_batch_size: " << response.body;
  EXPECT_EQ(infer("own", mlpRequest(2)).status, 200);
  response = infer("own", mlpRequest(3));
  EXPECT_EQ(response.status, 400) << "config.yaml's max_batch_size wins: " << response.body;
  response = infer("fixed", kserveRequest(reference("add_v1")["inputs"]));
  EXPECT_EQ(response.status, 200) << response.body;
  const std::string metrics = skiff::testing::httpGet(port, "/metrics");
  EXPECT_NE(metrics.find("skiff_serve_batches_total{model=\"mlp\",version=\"1\"} 1\n"),
            std::string::npos)
      << metrics;
  for (const char* model : {"own", "fixed"}) {
    EXPECT_NE(metrics.find(fmt::format(
                  "skiff_serve_batches_total{{model=\"{}\",version=\"1\"}} 0\n", model)),
              std::string::npos)
        << model << " is not batched\n"
        << metrics;
  }
  ::kill(server->pid(), SIGTERM);
  EXPECT_EQ(server->wait(std::chrono::seconds(10)), 0) << readFile(cache.path() / "serve.log");
}

TEST(ServeBatchingCommand, BatchingFlagsAreChecked) {
  skiff::testing::TempDir repository("skiff-serve-repo");
  const std::string uri = repository.path().string();
  CommandResult result = skiff::testing::runSkiff(
      {"serve", "--model-repository", uri, "--max-queue-delay", "2ms", "--http-port", "0"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_NE(result.err.find("add --max-batch-size N"), std::string::npos) << result.err;
  result = skiff::testing::runSkiff({"serve", "--model-repository", uri, "--max-batch-size", "8",
                                     "--preferred-batch-size", "16", "--http-port", "0"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_NE(result.err.find("--preferred-batch-size 16 is above --max-batch-size 8"),
            std::string::npos)
      << result.err;
  result = skiff::testing::runSkiff(
      {"serve", "--model-repository", uri, "--max-batch-size", "8", "--max-queue-delay", "2s"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_NE(result.err.find("is not a queue delay"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace skiff::serve::testing
