// Version labels of config.yaml (`labels: {stable: 1, canary: 2}`), read by
// /v2/models/{m}/labels/{label}/... and TF Serving's /v1/models/{m}/labels/{label}.

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace skiff::serve::testing
