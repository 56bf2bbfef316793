// The k8s target's pure parts: kubeconfig reading, rendering, workload state.

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/error.hpp"
#include "common/subprocess.hpp"
#include "deploy/k8s/kubeconfig.hpp"
#include "deploy/k8s/render.hpp"
#include "deploy/k8s/workload_state.hpp"
#include "deploy/local/sandbox.hpp"
#include "harness/jupyter.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "spec/parse.hpp"

namespace skiff::deploy::k8s {
namespace {

std::string messageOf(const std::function<void()>& work) {
  try {
    work();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(KubeconfigTest, MergesTheKubeconfigListWithTheFirstFileWinning) {
  testing::TempDir dir;
  // "Q0EK" is base64 of "CA\n"; the second file's cluster entry is shadowed.
  dir.write("a/config",
            "current-context: work\n"
            "contexts:\n- name: work\n  context: {cluster: aks, user: me, namespace: ml}\n"
            "users:\n- name: me\n  user: {client-certificate: certs/me.crt, client-key: "
            "/abs/me.key}\n");
  dir.write("b/config",
            "current-context: other\n"
            "clusters:\n- name: aks\n  cluster: {server: 'https://aks.example:443/', "
            "certificate-authority-data: Q0EK}\n"
            "- name: aks\n  cluster: {server: https://shadowed}\n");
  setenv("KUBECONFIG",
         ((dir / "missing").string() + ":" + (dir / "a/config").string() + ":" +
          (dir / "b/config").string())
             .c_str(),
         1);
  const auto access = loadKubeconfig();
  EXPECT_EQ(access.context, "work");
  EXPECT_EQ(access.server, "https://aks.example:443");
  EXPECT_EQ(access.namespaceName, "ml");
  EXPECT_EQ(access.tls.caData, "CA\n");
  EXPECT_EQ(access.tls.clientCert, (dir / "a/certs/me.crt").string());
  EXPECT_EQ(access.tls.clientKey, "/abs/me.key");
  EXPECT_TRUE(access.token.empty());
  unsetenv("KUBECONFIG");
}

TEST(KubeconfigTest, ReadsTokenFilesAndDefaultsTheNamespace) {
  testing::TempDir dir;
  dir.write("token", "abc.def\n");
  dir.write("config",
            "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
            "clusters:\n- name: k\n  cluster: {server: 'http://127.0.0.1:1', "
            "insecure-skip-tls-verify: true}\n"
            "users:\n- name: u\n  user: {tokenFile: token}\n");
  setenv("KUBECONFIG", (dir / "config").c_str(), 1);
  const auto access = loadKubeconfig();
  EXPECT_EQ(access.token, "abc.def");
  EXPECT_EQ(access.namespaceName, "default");
  EXPECT_TRUE(access.tls.insecureSkipTlsVerify);
  unsetenv("KUBECONFIG");
}

TEST(KubeconfigTest, ErrorsSayWhatToDo) {
  testing::TempDir dir;
  setenv("KUBECONFIG", (dir / "none").c_str(), 1);
  EXPECT_NE(messageOf([] { loadKubeconfig(); }).find("no kubeconfig found"), std::string::npos);
  dir.write("config",
            "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
            "clusters:\n- name: k\n  cluster: {server: 'https://x'}\n"
            "users:\n- name: u\n  user: {exec: {command: kubelogin}}\n");
  setenv("KUBECONFIG", (dir / "config").c_str(), 1);
  EXPECT_NE(messageOf([] { loadKubeconfig(); }).find("from a plugin"), std::string::npos);
  dir.write("config", "current-context: gone\n");
  EXPECT_NE(messageOf([] { loadKubeconfig(); }).find("context \"gone\" is not in the kubeconfig"),
            std::string::npos);
  unsetenv("KUBECONFIG");
}

TEST(KubeconfigTest, InsideAPodTheServiceAccountIsUsed) {
  testing::TempDir account;
  account.write("token", "pod-token\n");
  account.write("namespace", "jobs");
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  const auto access = inClusterAccess(account.path().string());
  EXPECT_EQ(access.server, "https://10.0.0.1:6443");
  EXPECT_EQ(access.token, "pod-token");
  EXPECT_EQ(access.namespaceName, "jobs");
  EXPECT_EQ(access.tls.caFile, (account / "ca.crt").string());
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_NE(messageOf([&] { inClusterAccess(account.path().string()); }).find("not inside"),
            std::string::npos);
  unsetenv("KUBERNETES_SERVICE_PORT");
}

spec::Spec parse(const std::string& yaml) {
  auto result = spec::parseSpec(yaml, "skiff.yaml");
  EXPECT_TRUE(result.ok()) << (result.diagnostics.empty() ? "" : result.diagnostics[0].format());
  return *result.spec;
}

TEST(RenderTest, SecretValuesAreRedactedButTheReleaseIdIsTheSame) {
  const auto spec = parse(
      "name: app\nsecrets:\n  db: {fromEnv: [PASSWORD]}\n"
      "jobs:\n  train: {command: [python3, t.py], secrets: [db]}\n");
  const SecretValues values{{"db", {{"PASSWORD", "hunter2"}}}};
  const auto shown = renderRelease(spec, "img@sha256:1", values, false);
  const auto redacted = renderRelease(spec, "img@sha256:1", values, true);
  EXPECT_EQ(shown.id, redacted.id);
  ASSERT_EQ(shown.objects[0]["kind"], "Secret");
  EXPECT_EQ(shown.objects[0]["data"]["PASSWORD"], "aHVudGVyMg==");
  // Still base64, so the rendered Secret is a valid object: base64("<redacted>").
  EXPECT_EQ(redacted.objects[0]["data"]["PASSWORD"], "PHJlZGFjdGVkPg==");
  EXPECT_EQ(toYaml(redacted.objects).find("hunter2"), std::string::npos);
  EXPECT_EQ(shown.objects[1]["metadata"]["labels"][kReleaseLabel], shown.id);

  const auto rotated =
      renderRelease(spec, "img@sha256:1", {{"db", {{"PASSWORD", "other"}}}}, false);
  EXPECT_EQ(rotated.id, shown.id) << "the id hashes no secret value";
  EXPECT_NE(renderRelease(spec, "img@sha256:2", values, false).id, shown.id);
}

TEST(RenderTest, StringsThatLookLikeOtherTypesAreQuotedInYaml) {
  const auto spec =
      parse("name: app\njobs:\n  t:\n    command: [echo, 'yes', '10', '1:30', '0x1F', '', ok]\n");
  const auto yaml = toYaml(renderRelease(spec, "img", {}, true).objects);
  for (const char* quoted : {"\"yes\"", "\"10\"", "\"1:30\"", "\"0x1F\"", "\"\""}) {
    EXPECT_NE(yaml.find(quoted), std::string::npos) << quoted << "\n" << yaml;
  }
  EXPECT_NE(yaml.find("- ok\n"), std::string::npos) << yaml;
}

TEST(RenderTest, ANameLongerThanADnsLabelIsAnError) {
  const auto spec = parse("name: " + std::string(40, 'a') + "\njobs:\n  " + std::string(30, 'b') +
                          ": {command: [x]}\n");
  EXPECT_NE(
      messageOf([&] { renderRelease(spec, "img", {}, true); }).find("longer than 63 characters"),
      std::string::npos);
}

// The rendered notebook pod, run as a kubelet would run it: its volumes
// (hostPath directories, an emptyDir) mounted at its volumeMounts by the
// local target's bubblewrap sandbox, the project's files as the image's
// working directory, and its command as rendered. Two substitutions, since
// no cluster node or JupyterLab is here: Debian's classic Jupyter server for
// `jupyter lab` (both take --notebook-dir), and loopback for 0.0.0.0.
TEST(RenderTest, TheNotebookPodsFileBrowserShowsTheProjectAndItsMounts) {
  const auto bwrap = findProgram("bwrap");
  const auto jupyter = findProgram("jupyter-notebook");
  ASSERT_TRUE(bwrap && jupyter) << "scripts/setup installs bubblewrap and jupyter-notebook";
  testing::TempDir store("skiff-store");
  store.write("data/iris.csv", "5.1,3.5,1.4,0.2,setosa\n");
  std::filesystem::create_directories(store / "models");
  testing::TempDir project("skiff-image-workdir");
  project.write("data/seed.csv", "the repository's copy\n");
  project.write("train.py", "print('hi')\n");
  const int port = testing::freeLoopbackPort();
  const auto spec =
      parse("name: iris\nstorage:\n  data: {uri: 'file://" + (store / "data").string() +
            "', mountPath: /data, readOnly: true}\n  models: {uri: 'file://" +
            (store / "models").string() + "', mountPath: /models}\nnotebook: {port: " +
            std::to_string(port) + ", mounts: [data, models]}\n");
  const auto release = renderRelease(spec, "img", {}, true);
  const auto deployment = std::find_if(release.objects.begin(), release.objects.end(), [](auto& o) {
    return o["kind"] == "Deployment" && o["metadata"]["name"] == "iris-notebook";
  });
  ASSERT_NE(deployment, release.objects.end());
  const auto& pod = (*deployment)["spec"]["template"]["spec"];

  testing::TempDir emptyDir("skiff-emptydir");
  std::map<std::string, std::string> volumeSources;
  for (const auto& volume : pod["volumes"]) {
    volumeSources[volume["name"]] = volume.contains("emptyDir")
                                        ? emptyDir.path().string()
                                        : volume["hostPath"]["path"].get<std::string>();
  }
  const auto& container = pod["containers"][0];
  local::SandboxSpec sandbox{bwrap->string(), project.path().string(), project.path().string(), {}};
  for (const auto& mount : container["volumeMounts"]) {
    sandbox.binds.push_back(
        {volumeSources.at(mount["name"]), mount["mountPath"], mount.value("readOnly", false)});
  }
  std::vector<std::string> command = {"env", "JUPYTER_TOKEN=pod-token",
                                      "JUPYTER_RUNTIME_DIR=/tmp/jupyter"};
  for (std::string argument : container["command"]) {
    if (argument == "lab") argument = "notebook";
    if (argument == "--ip=0.0.0.0") argument = "--ip=127.0.0.1";
    command.push_back(argument);
  }
  testing::LiveService notebookPod("notebook pod", local::sandboxCommand(sandbox, command), port,
                                   std::make_unique<testing::TempDir>("skiff-notebook-pod"));

  const testing::JupyterContents browser{"http://127.0.0.1:" + std::to_string(port), "pod-token"};
  const auto root = browser.list("");
  ASSERT_TRUE(root.count("iris") && root.count("data") && root.count("models"))
      << nlohmann::json(root).dump() << notebookPod.log();
  EXPECT_EQ(root.size(), 3u) << nlohmann::json(root).dump();
  EXPECT_TRUE(browser.list("iris").count("train.py")) << "the image's working directory";
  EXPECT_TRUE(browser.list("iris/data").count("seed.csv"));
  EXPECT_TRUE(browser.list("data").count("iris.csv")) << "the /data volume, as the kernel reads it";
  EXPECT_EQ(browser.list("data").at("iris.csv")["writable"], false);
  EXPECT_NE(browser.put("data/new.txt", "x").rfind("2", 0), 0u) << "read-only stays read-only";
  EXPECT_EQ(browser.put("models/note.txt", "x").rfind("2", 0), 0u);
  EXPECT_TRUE(std::filesystem::exists(store / "models/note.txt")) << "written to the volume";
}

TEST(WorkloadStateTest, TheKindComesFromTheTypeAskedForNotTheItem) {
  // A real list's items have no kind: a pending Job is not "present".
  const auto item = nlohmann::json::parse(R"({"metadata":{"name":"a"},"status":{"active":1}})");
  const auto state = workloadState("Job", item);
  EXPECT_EQ(state.phase, WorkloadState::Phase::kWorking);
  EXPECT_EQ(state.summary, "running (1 active, 0 failed)");
  EXPECT_EQ(workloadState("Secret", item).phase, WorkloadState::Phase::kDone);
}

TEST(WorkloadStateTest, ADeploymentIsReadyByItsAvailableReplicas) {
  const auto object = nlohmann::json::parse(
      R"({"metadata":{"generation":2},"spec":{"replicas":2},
          "status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,
                    "readyReplicas":2,"availableReplicas":1}})");
  const auto state = workloadState("Deployment", object);
  EXPECT_EQ(state.phase, WorkloadState::Phase::kWorking) << "ready but not yet available";
  EXPECT_EQ(state.summary, "1/2 ready, 2 updated");
}

TEST(WorkloadStateTest, APodThatHasNotStartedSaysWhy) {
  using nlohmann::json;
  EXPECT_EQ(podNotStarted(json::parse(R"({"spec":{},"status":{"phase":"Pending"}})")).value_or(""),
            "not scheduled: no node took it (does the cluster run a scheduler, and have a node "
            "with room for its requests?)");
  EXPECT_EQ(podNotStarted(json::parse(R"({"spec":{},"status":{"phase":"Pending","conditions":[
                {"type":"PodScheduled","status":"False","reason":"Unschedulable",
                 "message":"0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}})"))
                .value_or(""),
            "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
  EXPECT_EQ(podNotStarted(json::parse(R"({"spec":{"nodeName":"n1"},"status":{"phase":"Pending",
                "containerStatuses":[{"state":{"waiting":{"reason":"ErrImagePull",
                "message":"manifest unknown"}}}]}})"))
                .value_or(""),
            "ErrImagePull: manifest unknown");
  EXPECT_FALSE(
      podNotStarted(json::parse(R"({"spec":{"nodeName":"n1"},"status":{"phase":"Running"}})")));
  EXPECT_FALSE(podNotStarted(json::parse(R"({"status":{"phase":"Succeeded"}})")));
}

}  // namespace
}  // namespace skiff::deploy::k8s
