// Version labels of config.yaml (`labels: {stable: 1, canary: 2}`) and of the
// API (PUT/DELETE /v2/models/{m}/labels/{label}), read by
// /v2/models/{m}/labels/{label}/... and TF Serving's /v1/models/{m}/labels/{label};
// the traffic split between labels (`traffic: {stable: 90, canary: 10}`).

#include "serve/labels.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.hpp"
#include "serve/repository.hpp"
#include "serve_fixture.hpp"

namespace skiff::serve::testing {
namespace {

TEST(ServeLabels, LabelsNameVersionsInBothApis) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  served.putModel("add", 2, "add_v2");
  served.put("add/config.yaml", "version_policy: all\nlabels: {stable: 1, canary: 2}\n");
  ASSERT_TRUE(served.poll());
  const Json request = kserveRequest(reference("add_v1")["inputs"]);
  for (const auto& [label, version] : {std::pair{"stable", "1"}, std::pair{"canary", "2"}}) {
    const Json answer =
        served.postJson(fmt::format("/v2/models/add/labels/{}/infer", label), request);
    EXPECT_EQ(answer.value("model_version", ""), version) << answer.dump();
    EXPECT_EQ(served.get(fmt::format("/v2/models/add/labels/{}/ready", label)).status, 200);
    const Json status =
        Json::parse(served.get(fmt::format("/v1/models/add/labels/{}", label)).body);
    EXPECT_EQ(status["model_version_status"][0]["version"], version) << status.dump();
    const Json metadata =
        Json::parse(served.get(fmt::format("/v1/models/add/labels/{}/metadata", label)).body);
    EXPECT_EQ(metadata["model_spec"]["version"], version) << metadata.dump();
  }
  // The label's version and the numbered one answer alike.
  EXPECT_EQ(served.postJson("/v2/models/add/labels/canary/infer", request)["outputs"],
            served.postJson("/v2/models/add/versions/2/infer", request)["outputs"]);
  const Json unknown = served.postJson("/v2/models/add/labels/beta/infer", request, 404);
  EXPECT_EQ(unknown.value("error", ""), "model 'add' has no label 'beta' (labels: canary, stable)");
  // Moving a label moves its traffic at the next poll.
  served.put("add/config.yaml", "version_policy: all\nlabels: {stable: 2, canary: 2}\n");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(
      served.postJson("/v2/models/add/labels/stable/infer", request).value("model_version", ""),
      "2");
}

TEST(ServeLabels, ALabelOfAVersionNotServedIsNotFound) {
  ServedRepository served;
  served.putModel("add", 1, "add_v1");
  served.putModel("add", 2, "add_v2");
  served.put("add/config.yaml", "labels: {stable: 1}\n");  // {latest: 1} serves 2 only
  ASSERT_TRUE(served.poll());
  const Json answer = served.postJson("/v2/models/add/labels/stable/infer",
                                      kserveRequest(reference("add_v1")["inputs"]), 404);
  EXPECT_EQ(answer.value("error", ""), "model 'add' has no version 1 (serving: 2)");
}

TEST(ServeLabels, ConfigRefusesBadLabels) {
  EXPECT_THROW(parseModelConfig("labels: {2: 1}", "c"), Error);
  EXPECT_THROW(parseModelConfig("labels: {stable: 0}", "c"), Error);
  EXPECT_THROW(parseModelConfig("labels: [stable]", "c"), Error);
  EXPECT_EQ(parseModelConfig("labels: {stable: 3}", "c").labels.at("stable"), 3);
}

const Json& addRequest() {
  static const Json request = kserveRequest(reference("add_v1")["inputs"]);
  return request;
}

std::string labelVersion(ServedRepository& served, const std::string& label) {
  return served.postJson(fmt::format("/v2/models/add/labels/{}/infer", label), addRequest())
      .value("model_version", "");
}

// Three versions served, `stable: 1` in config.yaml.
void serveThreeVersions(ServedRepository& served, const std::string& config) {
  for (const int version : {1, 2, 3})
    served.putModel("add", version, fmt::format("add_v{}", version));
  served.put("add/config.yaml", config);
  ASSERT_TRUE(served.poll());
}

TEST(ServeLabelsApi, SetOverrideAndDelete) {
  ServedRepository served;
  serveThreeVersions(served, "version_policy: all\nlabels: {stable: 1}\n");
  EXPECT_EQ(served.sendJson("PUT", "/v2/models/add/labels/canary", {{"version", 3}}),
            Json::object());
  EXPECT_EQ(labelVersion(served, "canary"), "3");
  // An API label wins over config.yaml's of the same name until deleted.
  served.sendJson("PUT", "/v2/models/add/labels/stable", {{"version", "2"}});
  EXPECT_EQ(labelVersion(served, "stable"), "2");
  EXPECT_EQ(served.sendJson("GET", "/v2/models/add/labels", nullptr), Json::parse(R"({
    "name": "add", "labels": {
      "canary": {"version": 3, "source": "api"},
      "stable": {"version": 2, "source": "api", "config_version": 1}}})"));
  // It lives across polls and a changed config.yaml.
  served.put("add/config.yaml", "version_policy: all\nlabels: {stable: 1, beta: 1}\n");
  ASSERT_TRUE(served.poll());
  EXPECT_EQ(labelVersion(served, "stable"), "2");
  EXPECT_EQ(labelVersion(served, "beta"), "1");
  served.sendJson("DELETE", "/v2/models/add/labels/stable", nullptr);
  EXPECT_EQ(labelVersion(served, "stable"), "1");
  served.sendJson("DELETE", "/v2/models/add/labels/canary", nullptr);
  served.postJson("/v2/models/add/labels/canary/infer", addRequest(), 404);
  EXPECT_EQ(
      served.sendJson("DELETE", "/v2/models/add/labels/stable", nullptr, 404).value("error", ""),
      "model 'add' has no label 'stable' set by the API (it is config.yaml's: change it "
      "there)");
}

TEST(ServeLabelsApi, RefusesBadLabels) {
  ServedRepository served;
  // {latest: 2} serves 3 and 2: a label of 1 names a version the policy does not serve.
  serveThreeVersions(served, "version_policy: {latest: 2}\n");
  EXPECT_EQ(served.sendJson("PUT", "/v2/models/add/labels/stable", {{"version", 1}}, 409)
                .value("error", ""),
            "cannot point label 'stable' at version 1: model 'add' has no version 1 (serving: 2, "
            "3) (a label must name a version the version policy serves: see version_policy in "
            "config.yaml)");
  EXPECT_EQ(
      served.sendJson("PUT", "/v2/models/add/labels/7", {{"version", 2}}, 400).value("error", ""),
      "'7' cannot be a label: a label must be a name (not a number, no '/', '?', '#', ':' or "
      "space)");
  EXPECT_NE(served.sendJson("PUT", "/v2/models/add/labels/stable", {{"version", -2}}, 400)
                .value("error", "")
                .find("like {\"version\": 2}"),
            std::string::npos);
  served.sendJson("PUT", "/v2/models/add/labels/stable", nullptr, 400);
  EXPECT_EQ(served.sendJson("PUT", "/v2/models/nope/labels/stable", {{"version", 1}}, 404)
                .value("error", ""),
            "unknown model 'nope' (the repository has: add)");
  EXPECT_EQ(served.sendJson("POST", "/v2/models/add/labels/stable", nullptr, 405).count("error"),
            1u);
  // None of them was set; a good one is, and the policy still decides what serves.
  EXPECT_EQ(served.sendJson("GET", "/v2/models/add/labels", nullptr)["labels"], Json::object());
  served.sendJson("PUT", "/v2/models/add/labels/stable", {{"version", 2}});
  EXPECT_EQ(labelVersion(served, "stable"), "2");
  served.postJson("/v2/models/add/versions/1/infer", addRequest(), 404);
}

// How many of `requests` infer calls that name no version each version served.
std::map<std::string, int> splitOf(ServedRepository& served, int requests) {
  std::map<std::string, int> counts;
  for (int i = 0; i < requests; ++i)
    ++counts[served.postJson("/v2/models/add/infer", addRequest()).value("model_version", "none")];
  return counts;
}

void expectShare(const std::map<std::string, int>& counts, const std::string& version, double share,
                 int requests) {
  const auto found = counts.find(version);
  const double actual = found == counts.end() ? 0 : double(found->second) / requests;
  EXPECT_LE(std::abs(actual - share), 0.05) << "version " << version << " served " << actual;
}

TEST(ServeTraffic, SplitFollowsTheWeightsWithin5Percent) {
  ServedRepository served;
  serveThreeVersions(served,
                     "version_policy: all\nlabels: {stable: 1, canary: 2}\n"
                     "traffic: {stable: 90, canary: 10}\n");
  constexpr int kRequests = 2000;
  auto counts = splitOf(served, kRequests);
  expectShare(counts, "1", 0.9, kRequests);
  expectShare(counts, "2", 0.1, kRequests);
  EXPECT_EQ(counts.count("3"), 0u);  // the highest version gets none
  // A request naming a version or label is not split.
  EXPECT_EQ(served.postJson("/v2/models/add/versions/3/infer", addRequest())["model_version"], "3");
  EXPECT_EQ(labelVersion(served, "canary"), "2");
  EXPECT_EQ(served.sendJson("GET", "/v2/models/add/traffic", nullptr),
            Json::parse(R"({"name":"add","traffic":{"canary":10,"stable":90},"source":"config"})"));
  // By API: moving canary's label moves its share; a new split replaces config.yaml's.
  served.sendJson("PUT", "/v2/models/add/labels/canary", {{"version", 3}});
  served.sendJson("PUT", "/v2/models/add/traffic", {{"traffic", {{"stable", 50}, {"canary", 50}}}});
  counts = splitOf(served, kRequests);
  expectShare(counts, "1", 0.5, kRequests);
  expectShare(counts, "3", 0.5, kRequests);
  // An API label the split uses cannot go while only the API names it.
  served.sendJson("PUT", "/v2/models/add/labels/beta", {{"version", 2}});
  served.sendJson("PUT", "/v2/models/add/traffic", {{"traffic", {{"stable", 1}, {"beta", 3}}}});
  EXPECT_NE(served.sendJson("DELETE", "/v2/models/add/labels/beta", nullptr, 409)
                .value("error", "")
                .find("change the split first"),
            std::string::npos);
  counts = splitOf(served, 400);
  expectShare(counts, "1", 0.25, 400);
  expectShare(counts, "2", 0.75, 400);
  // Bad splits are refused and change nothing; DELETE brings config.yaml's back.
  EXPECT_EQ(served.sendJson("PUT", "/v2/models/add/traffic", {{"traffic", {{"gamma", 5}}}}, 400)
                .value("error", ""),
            "model 'add': traffic names 'gamma', which is no label of the model (labels: beta, "
            "canary, stable)");
  served.sendJson("PUT", "/v2/models/add/traffic", {{"traffic", {{"stable", 0}}}}, 400);
  served.sendJson("PUT", "/v2/models/add/traffic", {{"traffic", {{"stable", -1}}}}, 400);
  served.sendJson("PUT", "/v2/models/add/traffic", {{"traffic", {{"stable", 1.5}}}}, 400);
  EXPECT_EQ(served.sendJson("GET", "/v2/models/add/traffic", nullptr)["traffic"],
            Json({{"beta", 3}, {"stable", 1}}));
  EXPECT_EQ(served.sendJson("DELETE", "/v2/models/add/traffic", nullptr)["source"], "config");
  served.sendJson("DELETE", "/v2/models/add/traffic", nullptr, 404);
}

TEST(ServeTraffic, ALabelThatDoesNotServeGetsNoShare) {
  ServedRepository served;
  // canary names version 1, which {latest: 1} does not serve: all goes to stable.
  serveThreeVersions(served, "labels: {stable: 3, canary: 1}\ntraffic: {stable: 50, canary: 50}\n");
  const auto counts = splitOf(served, 50);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"3", 50}}));
}

TEST(ServeTraffic, RoundRobinInterleavesByWeight) {
  ModelLabels labels;
  labels.configure({{"a", 1}, {"b", 2}, {"c", 3}}, {{"a", 3}, {"b", 1}, {"c", 0}});
  std::string order;
  for (int i = 0; i < 8; ++i) order += *labels.pick([](int64_t) { return true; });
  EXPECT_EQ(order, "aabaaaba");  // 3:1, interleaved, c (weight 0) never
  // A label whose version does not serve is skipped; none serving: nothing.
  EXPECT_EQ(*labels.pick([](int64_t version) { return version == 2; }), "b");
  EXPECT_FALSE(labels.pick([](int64_t) { return false; }));
}

TEST(ServeTraffic, ConfigRefusesBadSplits) {
  const auto problem = [](const std::string& text) {
    try {
      parseModelConfig(text, "c");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string unknown = problem("labels: {stable: 1}\ntraffic: {stable: 9, canary: 1}\n");
  EXPECT_NE(unknown.find("traffic names 'canary', which is no label of the model (labels: stable)"),
            std::string::npos)
      << unknown;
  EXPECT_NE(unknown.find("c:2:22"), std::string::npos) << unknown;
  const std::string negative = problem("labels: {a: 1, b: 2}\ntraffic: {a: -1, b: 1}\n");
  EXPECT_NE(negative.find("the weight of 'a' must be an integer from 0 to 1000000"),
            std::string::npos)
      << negative;
  EXPECT_NE(negative.find("c:2:14"), std::string::npos) << negative;
  EXPECT_NE(problem("labels: {a: 1}\ntraffic: {a: 0}\n").find("add up to more than 0"),
            std::string::npos);
  EXPECT_NE(problem("labels: {a: 1}\ntraffic: [a]\n").find("traffic must map labels to weights"),
            std::string::npos);
  EXPECT_NE(problem("labels: {a: 1}\ntraffic: {a: x}\n").find("must be an integer"),
            std::string::npos);
  const ModelConfig config = parseModelConfig("labels: {a: 1, b: 2}\ntraffic: {a: 9, b: 1}\n", "c");
  EXPECT_EQ(config.traffic, (std::map<std::string, int64_t>{{"a", 9}, {"b", 1}}));
}

}  // namespace
}  // namespace skiff::serve::testing
