// skiff release / status / logs / down / render --target k8s against a real
// kube-apiserver 1.20 (tests/harness/kube_cluster: etcd, kube-apiserver and
// kube-controller-manager built from Debian's sources, RBAC on). There is no
// scheduler and no kubelet: the controllers make pods, which stay Pending
// with no node. Each test has a namespace of its own.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "deploy/fake_apiserver.hpp"
#include "harness/kube_cluster.hpp"
#include "harness/services.hpp"
#include "harness/temp_dir.hpp"
#include "k8s_app.hpp"

namespace skiff::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using User = KubeCluster::User;

using skiff::deploy::testing::kApp;

std::string both(const CommandResult& result) {
  return result.out + result.err;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class K8sTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = cluster().createNamespace();
    kubeconfig_ = cluster().writeKubeconfig(config_, ns_).string();
  }

  static KubeCluster& cluster() { return KubeCluster::shared(); }

  std::map<std::string, std::string> env(const std::string& kubeconfig = {}) const {
    return {{"KUBECONFIG", kubeconfig.empty() ? kubeconfig_ : kubeconfig},
            {"SKIFF_TEST_DB_PASSWORD", "hunter2-secret"}};
  }

  std::vector<std::string> argv(std::vector<std::string> args) const {
    args.insert(args.begin() + 1, {"--target", "k8s"});
    args.push_back(project_.path().string());
    return args;
  }

  CommandResult skiff(const std::vector<std::string>& args, const std::string& kubeconfig = {}) {
    return runSkiff(argv(args), env(kubeconfig));
  }

  // GET a path of this test's namespace as the admin: nothing when it is not there.
  std::optional<json> get(const std::string& path) const {
    const auto response = cluster().request("GET", path);
    if (response.status == 404) return std::nullopt;
    EXPECT_EQ(response.status, 200) << path << ": " << response.body;
    return response.parsed();
  }
  std::string core(const std::string& rest) const {
    return "/api/v1/namespaces/" + ns_ + "/" + rest;
  }
  std::string group(const std::string& groupVersion, const std::string& rest) const {
    return "/apis/" + groupVersion + "/namespaces/" + ns_ + "/" + rest;
  }

  // Waits until the controllers made `count` pods of `entry` (a spec entry label).
  std::vector<json> waitForPods(const std::string& entry, size_t count) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (true) {
      const auto pods = get(core("pods?labelSelector=skiff.dev%2Fentry%3D" + entry));
      const auto items = pods ? pods->value("items", json::array()) : json::array();
      if (items.size() >= count) return items.get<std::vector<json>>();
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the controllers made no pods of " << entry << " in 60 s:\n"
                      << cluster().log();
        return {};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  TempDir project_{"skiff-k8s-project"};
  TempDir config_{"skiff-k8s-config"};
  std::string ns_;
  std::string kubeconfig_;
};

TEST_F(K8sTargetTest, ReleaseAppliesEverythingWithServerSideApply) {
  writeProject(project_, kApp);
  const auto first = skiff({"release"});
  ASSERT_EQ(first.exitCode, 0) << both(first);
  EXPECT_TRUE(contains(first.out, "Secret/app-db       created")) << first.out;
  EXPECT_TRUE(contains(first.out, "namespace " + ns_)) << first.out;
  EXPECT_FALSE(contains(both(first), "hunter2-secret"));

  const auto secret = get(core("secrets/app-db"));
  ASSERT_TRUE(secret);
  EXPECT_EQ((*secret)["data"]["SKIFF_TEST_DB_PASSWORD"], "aHVudGVyMi1zZWNyZXQ=");
  const auto deployment = get(group("apps/v1", "deployments/app-api"));
  ASSERT_TRUE(deployment);
  EXPECT_EQ((*deployment)["spec"]["replicas"], 2);
  bool appliedBySkiff = false;
  for (const auto& entry : (*deployment)["metadata"]["managedFields"]) {
    appliedBySkiff |= entry["manager"] == "skiff" && entry["operation"] == "Apply";
  }
  EXPECT_TRUE(appliedBySkiff) << deployment->dump(1);
  EXPECT_TRUE(get(group("batch/v1", "jobs/app-train")));
  EXPECT_TRUE(get(core("services/app-api")));

  const auto again = skiff({"release"});
  ASSERT_EQ(again.exitCode, 0) << both(again);
  EXPECT_TRUE(contains(again.out, "Job/app-train       configured")) << again.out;
}

TEST_F(K8sTargetTest, AClientCertificateReachesTheClusterOverTls) {
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  const auto kubeconfig = cluster().writeKubeconfig(config_, ns_, User::kAdminCert).string();
  const auto result = skiff({"release"}, kubeconfig);
  ASSERT_EQ(result.exitCode, 0) << both(result);
  EXPECT_TRUE(contains(result.out, "Job/app-train  created")) << result.out;
}

// Bug 1: the items of a real list have no kind, and the wait took them for
// Secrets ("present", done at once) while nothing ran.
TEST_F(K8sTargetTest, WaitOnAJobWhosePodStaysPendingTimesOutSayingWhy) {
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  const auto started = std::chrono::steady_clock::now();
  const auto result = skiff({"release", "--wait", "--timeout", "6"});
  EXPECT_EQ(result.exitCode, 1) << both(result);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(6));
  EXPECT_TRUE(
      contains(result.out, "timed out after 6s (running (1 active, 0 failed); pod app-train-"))
      << result.out;
  EXPECT_TRUE(contains(result.out, "pending: not scheduled: no node took it")) << result.out;
  EXPECT_TRUE(contains(result.out, "failed (see the states above)")) << result.out;
}

TEST_F(K8sTargetTest, WaitOnADeploymentWhosePodsStayPendingTimesOutSayingWhy) {
  writeProject(project_,
               "name: app\nservices:\n  api: {command: [python3, app.py], replicas: 2}\n");
  const auto result = skiff({"release", "--wait", "--timeout", "6"});
  EXPECT_EQ(result.exitCode, 1) << both(result);
  EXPECT_TRUE(contains(result.out, "Deployment/app-api  created     timed out after 6s (0/2 ready"))
      << result.out;
  EXPECT_TRUE(contains(result.out, "pending: not scheduled")) << result.out;
}

TEST_F(K8sTargetTest, StatusShowsPendingPodsAsPending) {
  writeProject(project_, kApp);
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  waitForPods("jobs.train", 1);
  waitForPods("services.api", 2);
  // The controllers count the pods into the workloads' status a moment later.
  std::map<std::string, json> rows;
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto status = skiff({"status", "--json"});
    ASSERT_EQ(status.exitCode, 0) << both(status);
    out = status.out;
    for (const auto& row : json::parse(out)) rows[row["kind"].get<std::string>()] = row;
    if (contains(rows["Deployment"].value("state", ""), "2 pods pending") &&
        rows["Job"].value("phase", "") == "pending") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_EQ(rows.size(), 4u) << out;
  EXPECT_EQ(rows["Job"]["phase"], "pending") << out;
  EXPECT_TRUE(contains(rows["Job"]["state"],
                       "running (1 active, 0 failed); 1 pod pending: "
                       "not scheduled: no node took it"))
      << out;
  EXPECT_EQ(rows["Deployment"]["phase"], "pending") << out;
  EXPECT_TRUE(contains(rows["Deployment"]["state"], "0/2 ready")) << out;
  EXPECT_TRUE(contains(rows["Deployment"]["state"], "2 pods pending: not scheduled")) << out;
  EXPECT_EQ(rows["Secret"]["phase"], "done");
  EXPECT_EQ(rows["Service"]["phase"], "done");

  const auto table = skiff({"status"});
  ASSERT_EQ(table.exitCode, 0) << both(table);
  EXPECT_TRUE(contains(table.out, "Job/app-train")) << table.out;
  EXPECT_TRUE(contains(table.out, "pending")) << table.out;
}

// Bug 2: a pod that has not started has no log: 204 No Content.
TEST_F(K8sTargetTest, LogsOfAPodThatHasNotStartedSayWhyAndFollowingWaits) {
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  const auto pods = waitForPods("jobs.train", 1);
  ASSERT_EQ(pods.size(), 1u);
  const std::string pod = pods[0]["metadata"]["name"];

  const auto once = skiff({"logs", "train"});
  EXPECT_EQ(once.exitCode, 0) << both(once);
  EXPECT_TRUE(contains(once.err, "pod " + pod + " has not started: not scheduled")) << once.err;
  EXPECT_FALSE(contains(both(once), "answered 204")) << both(once);

  // -f waits for the pod (here for ever: nothing will run it).
  SpawnOptions options;
  options.extraEnv = env();
  options.stdoutFile = config_ / "follow.out";
  options.stderrFile = config_ / "follow.err";
  auto args = argv({"logs", "train", "-f"});
  args.insert(args.begin(), skiffBinary());
  Subprocess follow(args, options);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string err;
  while (!contains(err, "waiting for it") && follow.running() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::ifstream in(config_ / "follow.err");
    err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_TRUE(contains(err, "pod " + pod + " has not started: not scheduled")) << err;
  EXPECT_TRUE(contains(err, "waiting for it")) << err;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(follow.running()) << "logs -f must keep waiting: " << err;
  follow.stop(std::chrono::seconds(2));
}

TEST_F(K8sTargetTest, PruneDeletesWhatLeftTheSpecAndDownDeletesTheRest) {
  writeProject(project_, kApp);
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  const auto pruned = skiff({"release", "--prune"});
  ASSERT_EQ(pruned.exitCode, 0) << both(pruned);
  for (const char* gone : {"Deployment/app-api", "Service/app-api", "Secret/app-db"}) {
    EXPECT_TRUE(contains(pruned.out, gone)) << pruned.out;
  }
  EXPECT_FALSE(get(group("apps/v1", "deployments/app-api")));
  EXPECT_FALSE(get(core("secrets/app-db")));
  const auto status = skiff({"status", "--json"});
  ASSERT_EQ(status.exitCode, 0) << both(status);
  const auto rows = json::parse(status.out);
  ASSERT_EQ(rows.size(), 1u) << status.out;
  EXPECT_EQ(rows[0]["name"], "app-train");

  const auto down = skiff({"down"});
  ASSERT_EQ(down.exitCode, 0) << both(down);
  EXPECT_TRUE(contains(down.out, "Job/app-train")) << down.out;
  // Background propagation: the Job goes at once, its pod after it.
  EXPECT_EQ(json::parse(skiff({"status", "--json"}).out).size(), 0u);
}

TEST_F(K8sTargetTest, AChangedJobIsReplacedAndAnUnchangedOneKept) {
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  const std::string uid = (*get(group("batch/v1", "jobs/app-train")))["metadata"]["uid"];
  writeProject(project_, "name: app\njobs:\n  train: {command: [python3, train.py, --fast]}\n");
  const auto changed = skiff({"release"});
  ASSERT_EQ(changed.exitCode, 0) << both(changed);
  EXPECT_TRUE(contains(changed.out, "Job/app-train  replaced")) << changed.out;
  const std::string replaced = (*get(group("batch/v1", "jobs/app-train")))["metadata"]["uid"];
  EXPECT_NE(replaced, uid);
  const auto same = skiff({"release"});
  EXPECT_TRUE(contains(same.out, "Job/app-train  configured")) << same.out;
  EXPECT_EQ((*get(group("batch/v1", "jobs/app-train")))["metadata"]["uid"], replaced);
}

TEST_F(K8sTargetTest, RefusedCredentialsAre401WithAHint) {
  writeProject(project_, kApp);
  const auto result =
      skiff({"release"}, cluster().writeKubeconfig(config_, ns_, User::kWrongToken).string());
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_TRUE(contains(result.err, "401 Unauthorized")) << result.err;
  EXPECT_TRUE(contains(result.err, "credentials of context \"test\"")) << result.err;
}

// Bug 3: several conflicts were a multi-line message with a redundant tail.
TEST_F(K8sTargetTest, SeveralConflictsInOne409AreOneLineUnlessForced) {
  writeProject(project_, kApp);
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  // Someone else applies two fields of the Deployment and takes them over.
  const json theirs = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "app-api"}}},
      {"spec",
       {{"replicas", 5},
        {"template",
         {{"spec", {{"containers", {{{"name", "api"}, {"image", "example.com/other:1"}}}}}}}}}}};
  const auto taken = cluster().request(
      "PATCH", group("apps/v1", "deployments/app-api?fieldManager=ops&force=true"), theirs.dump(),
      "application/apply-patch+yaml");
  ASSERT_EQ(taken.status, 200) << taken.body;

  const auto refused = skiff({"release"});
  EXPECT_EQ(refused.exitCode, 1);
  EXPECT_TRUE(contains(refused.err,
                       "409 Conflict: Apply failed with 2 conflicts: conflict with \"ops\": "
                       ".spec.replicas, .spec.template.spec.containers[name=\"api\"].image"))
      << refused.err;
  EXPECT_TRUE(contains(refused.err, "--force-conflicts")) << refused.err;
  EXPECT_FALSE(contains(refused.err, "; .spec")) << refused.err;
  const auto firstLine = refused.err.substr(0, refused.err.find('\n'));
  EXPECT_TRUE(contains(firstLine, "--force-conflicts")) << "one line: " << refused.err;
  EXPECT_TRUE(contains(refused.out, "stopped at an error (2 of 4 objects applied)")) << refused.out;

  const auto forced = skiff({"release", "--force-conflicts"});
  ASSERT_EQ(forced.exitCode, 0) << both(forced);
  EXPECT_EQ((*get(group("apps/v1", "deployments/app-api")))["spec"]["replicas"], 2);
}

// Bug 4: the Secret and the Job were applied before the missing CRD was found.
TEST_F(K8sTargetTest, AMissingCrdRefusesTheReleaseBeforeAnythingIsApplied) {
  cluster().removeCrds();
  writeProject(project_,
               "name: app\nsecrets:\n  db: {fromEnv: [SKIFF_TEST_DB_PASSWORD]}\n"
               "jobs:\n  train: {command: [python3, train.py], secrets: [db]}\n"
               "  dist: {kind: tfjob, command: [python3, t.py], replicas: {worker: 2}}\n");
  const auto result = skiff({"release"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_TRUE(contains(result.err, "does not serve TFJob")) << result.err;
  EXPECT_TRUE(contains(result.err, "Kubeflow training operator")) << result.err;
  EXPECT_FALSE(get(core("secrets/app-db"))) << "nothing may be applied";
  EXPECT_FALSE(get(group("batch/v1", "jobs/app-train"))) << "nothing may be applied";
}

// Bug 5: `view` may not list Secrets, and status failed entirely.
TEST_F(K8sTargetTest, StatusWorksForAViewerAndSkipsSecrets) {
  writeProject(project_, kApp);
  ASSERT_EQ(skiff({"release"}).exitCode, 0);
  cluster().call(
      "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns_ + "/rolebindings",
      {{"apiVersion", "rbac.authorization.k8s.io/v1"},
       {"kind", "RoleBinding"},
       {"metadata", {{"name", "viewer"}}},
       {"roleRef",
        {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}},
       {"subjects",
        {{{"apiGroup", "rbac.authorization.k8s.io"},
          {"kind", "User"},
          {"name", "skiff-viewer"}}}}});
  const auto viewer = cluster().writeKubeconfig(config_, ns_, User::kViewer).string();
  const auto status = skiff({"status"}, viewer);
  ASSERT_EQ(status.exitCode, 0) << both(status);
  EXPECT_TRUE(contains(status.out, "Job/app-train")) << status.out;
  EXPECT_TRUE(contains(status.out, "Deployment/app-api")) << status.out;
  EXPECT_TRUE(contains(status.out, "Service/app-api")) << status.out;
  EXPECT_FALSE(contains(status.out, "Secret/")) << status.out;
  EXPECT_TRUE(contains(status.err, "secrets not shown: the user may not list them")) << status.err;

  // What the viewer may not do is a 403 with a hint.
  const auto down = skiff({"down"}, viewer);
  EXPECT_EQ(down.exitCode, 1);
  EXPECT_TRUE(contains(down.err, "403 Forbidden")) << down.err;
  EXPECT_TRUE(contains(down.err, "ask for an RBAC role")) << down.err;
}

TEST_F(K8sTargetTest, AMissingNamespaceIsReportedAsSuch) {
  writeProject(project_, kApp);
  for (const char* command : {"status", "down"}) {
    const auto result = skiff({command, "-n", "skiff-nowhere"});
    EXPECT_EQ(result.exitCode, 1) << command << ": " << both(result);
    EXPECT_TRUE(contains(result.err, "namespace \"skiff-nowhere\" does not exist")) << result.err;
    EXPECT_TRUE(contains(result.err, "check --namespace")) << result.err;
  }
}

// Bug 6: redacted Secret values were not base64, so the server refused them.
TEST_F(K8sTargetTest, RenderedOutputPassesServerSideDryRun) {
  cluster().installCrds();
  const std::map<std::string, std::string> plurals = {{"Secret", "secrets"},
                                                      {"Service", "services"},
                                                      {"Deployment", "deployments"},
                                                      {"Job", "jobs"},
                                                      {"TFJob", "tfjobs"},
                                                      {"PyTorchJob", "pytorchjobs"},
                                                      {"SparkApplication", "sparkapplications"}};
  const fs::path golden = fs::path(SKIFF_TEST_SOURCE_DIR) / "deploy/golden";
  const std::optional<fs::path> kubectl = findProgram("kubectl");
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(golden)) {
    const std::string name = entry.path().filename();
    TempDir project("skiff-dry-run");
    fs::copy(entry.path(), project.path(), fs::copy_options::recursive);
    writeProject(project, [&] {
      std::ifstream in(entry.path() / "skiff.yaml");
      return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }());
    const std::map<std::string, std::string> secrets = {{"AZURE_STORAGE_ACCOUNT", "account"},
                                                        {"AZURE_STORAGE_KEY", "key"},
                                                        {"DB_PASSWORD", "pw"},
                                                        {"WAREHOUSE_TOKEN", "tok"}};
    const auto rendered = runSkiff({"render", "-o", "json", project.path().string()}, secrets);
    ASSERT_EQ(rendered.exitCode, 0) << name << ": " << rendered.err;
    const json list = json::parse(rendered.out);
    for (const auto& object : list["items"]) {
      const std::string kind = object["kind"];
      const std::string apiVersion = object["apiVersion"];
      const std::string path = (apiVersion == "v1" ? "/api/v1" : "/apis/" + apiVersion) +
                               "/namespaces/" + ns_ + "/" + plurals.at(kind) + "/" +
                               object["metadata"]["name"].get<std::string>() +
                               "?dryRun=All&fieldManager=kubectl";
      // The object exactly as rendered: JSON is YAML.
      const auto response =
          cluster().request("PATCH", path, object.dump(), "application/apply-patch+yaml");
      EXPECT_TRUE(response.status == 200 || response.status == 201)
          << name << ": " << kind << " " << object["metadata"]["name"] << " was refused ("
          << response.status << "): " << response.body;
      ++checked;
    }
    if (kubectl) {
      // What a reviewer runs: `skiff render | kubectl apply --dry-run=server -f -`.
      const auto yaml = runSkiff({"render", project.path().string()}, secrets);
      SpawnOptions options;
      const auto applied = runCommand(
          {kubectl->string(), "--kubeconfig", kubeconfig_, "apply", "--dry-run=server", "-f", "-"},
          options, yaml.out);
      EXPECT_EQ(applied.exitCode, 0) << name << ": kubectl: " << applied.out << applied.err;
    }
  }
  EXPECT_GE(checked, 20) << "every golden case, every object";
  EXPECT_FALSE(get(core("secrets/complete-db"))) << "a dry run stores nothing";
  if (!kubectl) std::cerr << "note: no kubectl on PATH: checked with the API only\n";
}

// Bug 7: a key Kubernetes refuses was sent, and the 422 said "fix skiff.yaml".
TEST_F(K8sTargetTest, ABadEnvFileKeyIsFoundLocallyWithItsFileAndLine) {
  writeProject(project_,
               "name: app\nsecrets:\n  db: {fromFile: db.env}\n"
               "jobs:\n  train: {command: [python3, train.py], secrets: [db]}\n");
  project_.write("db.env", "USER=alice\nBAD KEY=hunter2\n");
  const auto result = skiff({"release"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_TRUE(contains(result.err, "\"BAD KEY\" is not a valid key for secret \"db\""))
      << result.err;
  EXPECT_TRUE(contains(result.err, "db.env:2")) << result.err;
  EXPECT_FALSE(contains(both(result), "hunter2"));
  EXPECT_FALSE(get(core("secrets/app-db"))) << "nothing may be applied";
}

// The operators' kinds, from CRDs made from the validator's schemas: a
// release waits on their status as their operators write it.
TEST_F(K8sTargetTest, WaitFollowsTheOperatorsStatusOfTfJobsAndSparkApplications) {
  cluster().installCrds();
  writeProject(project_,
               "name: app\njobs:\n"
               "  dist: {kind: tfjob, command: [python3, t.py], replicas: {worker: 2}}\n"
               "  etl:\n    kind: spark\n    spark: {type: Python, mainApplicationFile: "
               "local:///opt/etl.py, sparkVersion: \"3.5.0\"}\n");
  SpawnOptions options;
  options.extraEnv = env();
  options.stdoutFile = config_ / "release.out";
  options.stderrFile = config_ / "release.err";
  auto args = argv({"release", "--wait", "--timeout", "60"});
  args.insert(args.begin(), skiffBinary());
  Subprocess release(args, options);
  // The operators would write these: the TFJob succeeds, the application completes.
  const std::pair<std::string, json> finished[] = {
      {group("kubeflow.org/v1", "tfjobs/app-dist/status"),
       {{"status",
         {{"conditions",
           {{{"type", "Succeeded"}, {"status", "True"}, {"reason", "TFJobSucceeded"}}}}}}}},
      {group("sparkoperator.k8s.io/v1beta2", "sparkapplications/app-etl/status"),
       {{"status",
         {{"applicationState", {{"state", "COMPLETED"}}},
          {"driverInfo", {{"podName", "app-etl-driver"}}}}}}},
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (const auto& [path, status] : finished) {
    while (cluster().request("PATCH", path, status.dump(), "application/merge-patch+json").status !=
           200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "not applied: " << path;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ASSERT_TRUE(release.wait(std::chrono::seconds(60)).has_value());
  std::ifstream in(config_ / "release.out");
  const std::string out(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>{});
  EXPECT_EQ(release.wait().value_or(-1), 0) << out;
  EXPECT_TRUE(contains(out, "TFJob/app-dist")) << out;
  EXPECT_TRUE(contains(out, "succeeded")) << out;
  EXPECT_TRUE(contains(out, "completed")) << out;

  const auto status = skiff({"status", "--json"});
  ASSERT_EQ(status.exitCode, 0) << both(status);
  for (const auto& row : json::parse(status.out)) EXPECT_EQ(row["phase"], "done") << row;
}

// `skiff dashboard --target k8s`: the release's objects and pods with why
// they wait (no node here), log tails through the API client, the serve
// service through the API server's service proxy (which has no endpoints
// to reach without a kubelet, and says so), and no run history; then the
// page in Chromium, as a person sees it.
TEST_F(K8sTargetTest, TheDashboardShowsTheReleaseAndWhyItsPodsWait) {
  writeProject(project_, std::string(kApp) +
                             "  classifier: {kind: serve, modelRepository: 'file:///models', "
                             "port: 8500}\n");
  const auto release = skiff({"release"});
  ASSERT_EQ(release.exitCode, 0) << both(release);
  waitForPods("jobs.train", 1);
  waitForPods("services.api", 2);

  const int port = freeLoopbackPort();
  SpawnOptions options;
  options.extraEnv = env();
  options.stderrFile = config_ / "dashboard.log";
  Subprocess dashboard({skiffBinary(), "dashboard", "--target", "k8s", "--port",
                        std::to_string(port), project_.path().string()},
                       options);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!portAcceptsConnections(port)) {
    ASSERT_TRUE(dashboard.running()) << config_.read("dashboard.log");
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto api = [port](const std::string& path) {
    const std::string response = httpGet(port, path);
    const auto body = response.find("\r\n\r\n");
    return std::make_pair(response.substr(9, 3), json::parse(response.substr(body + 4)));
  };

  const auto [statusCode, status] = api("/api/status");
  ASSERT_EQ(statusCode, "200") << status.dump();
  EXPECT_EQ(status["target"], "k8s");
  EXPECT_EQ(status["namespace"], ns_);
  std::map<std::string, json> objects;
  for (const auto& object : status["objects"])
    objects[object["kind"].get<std::string>() + "/" + object["name"].get<std::string>()] = object;
  ASSERT_TRUE(objects.count("Job/app-train") && objects.count("Deployment/app-classifier"))
      << status.dump(1);
  EXPECT_EQ(objects["Job/app-train"]["phase"], "pending") << status.dump(1);
  EXPECT_TRUE(contains(objects["Job/app-train"]["state"], "not scheduled")) << status.dump(1);
  size_t pendingPods = 0;
  for (const auto& pod : status["pods"]) {
    EXPECT_EQ(pod["phase"], "Pending") << pod;
    EXPECT_TRUE(contains(pod["reason"], "not scheduled")) << pod;
    pendingPods += pod["phase"] == "Pending";
  }
  EXPECT_GE(pendingPods, 3u) << "train's pod and api's two";
  EXPECT_EQ(status["names"], json::parse(R"(["train", "api", "classifier"])"));

  const auto [logsCode, logs] = api("/api/logs?name=train");
  EXPECT_EQ(logsCode, "200") << logs.dump();
  ASSERT_EQ(logs["replicas"].size(), 1u) << logs.dump();
  EXPECT_TRUE(logs["replicas"].begin().value().empty()) << "no node, no log yet";
  const auto [unknownCode, unknown] = api("/api/logs?name=trian");
  EXPECT_EQ(unknownCode, "404");
  EXPECT_TRUE(contains(unknown["error"], "did you mean \"train\"")) << unknown.dump();

  const auto [modelsCode, models] = api("/api/models");
  EXPECT_EQ(modelsCode, "200");
  ASSERT_EQ(models["servers"].size(), 1u) << models.dump();
  const json& classifier = models["servers"][0];
  EXPECT_TRUE(contains(classifier["endpoint"],
                       "/api/v1/namespaces/" + ns_ + "/services/app-classifier:http/proxy"))
      << classifier.dump();
  EXPECT_TRUE(contains(classifier["error"], "HTTP 503: no endpoints available for service"))
      << "the real proxy answered, for the Service skiff rendered: " << classifier.dump();
  EXPECT_EQ(api("/api/runs").second["runs"].size(), 0u);
  EXPECT_EQ(api("/api/runs/1").first, "404");

  // The page, in a real browser.
  SpawnOptions node;
  node.extraEnv = {{"NODE_PATH", SKIFF_NODE_MODULES}};
  const auto looked =
      runCommand({"node", SKIFF_CLUSTER_CHECK, "http://127.0.0.1:" + std::to_string(port),
                  SKIFF_SCREENSHOTS, "train"},
                 node);
  ASSERT_EQ(looked.exitCode, 0) << looked.err << looked.out;
  const auto page = json::parse(looked.out);
  EXPECT_EQ(page["consoleErrors"].size(), 0u) << page.dump(1);
  EXPECT_TRUE(contains(page["where"], "namespace " + ns_)) << page.dump(1);
  bool trainShown = false;
  for (const auto& row : page["objects"]) {
    if (row["object"] == "Job/app-train") {
      trainShown = true;
      EXPECT_EQ(row["phase"], "pending");
      EXPECT_TRUE(contains(row["state"], "not scheduled")) << row;
    }
  }
  EXPECT_TRUE(trainShown) << page.dump(1);
  ASSERT_GE(page["pods"].size(), 3u) << page.dump(1);
  for (const auto& pod : page["pods"]) {
    EXPECT_EQ(pod["phase"], "Pending");
    EXPECT_TRUE(contains(pod["why"], "not scheduled")) << pod;
  }
  EXPECT_FALSE(page["runsShown"]) << "a cluster keeps no run history";
  EXPECT_FALSE(page["metricsShown"]);
  EXPECT_TRUE(contains(page["models"], "no endpoints available")) << page.dump(1);
  EXPECT_EQ(page["logNames"], json::parse(R"(["train", "api", "classifier"])"));
  EXPECT_TRUE(contains(page["logs"], "app-train-")) << "the pod, with no log yet: " << page["logs"];
  EXPECT_EQ(page["narrow"]["scrollWidth"], page["narrow"]["clientWidth"]) << page["narrow"];
}

TEST_F(K8sTargetTest, WithoutABuildRecordReleaseSaysToBuild) {
  project_.write("skiff.yaml", "name: app\njobs:\n  train: {command: [python3, train.py]}\n");
  const auto result = skiff({"release"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_TRUE(contains(result.err, "run `skiff build`")) << result.err;
}

}  // namespace
}  // namespace skiff::testing
