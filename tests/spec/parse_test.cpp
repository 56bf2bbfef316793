#include "spec/parse.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "harness/temp_dir.hpp"

namespace skiff::spec {
namespace {

std::vector<std::string> formatted(const ParseResult& result) {
  std::vector<std::string> lines;
  for (const auto& diagnostic : result.diagnostics) lines.push_back(diagnostic.format());
  return lines;
}

std::string joined(const ParseResult& result) {
  std::string text;
  for (const auto& line : formatted(result)) text += line + "\n";
  return text;
}

ParseResult parse(const std::string& yaml) {
  return parseSpec(yaml, "skiff.yaml");
}

const char* kFullSpec = R"(name: iris
image:
  dockerfile: Dockerfile
  context: .
  repository: localhost:5000/iris
  buildArgs: {PYTHON: "3.11"}
  tags: [git-commit, build-number, latest]
storage:
  data:
    uri: az://myaccount/datasets/iris
    mountPath: /data
    readOnly: true
    cacheTimeout: 5m
    secret: azure
  scratch:
    kind: hostPath
    path: /mnt/ssd
    mountPath: /scratch
  archive:
    kind: fileShare
    uri: azfile://myaccount/archive
    mountPath: /archive
    secret: azure
secrets:
  azure:
    fromEnv: [AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY]
  db:
    fromFile: secrets/db.env
jobs:
  train:
    command: [python3, train.py]
    env: {EPOCHS: 10}
    secrets: [db]
    mounts: [data, scratch]
    resources: {cpu: 2, memory: 4Gi, gpu: 1}
    backoffLimit: 2
    restartPolicy: OnFailure
  distributed:
    kind: tfjob
    command: python3 dist.py --steps 100
    replicas:
      chief: 1
      worker: {count: 2, resources: {gpu: 1}}
      ps: 1
  torch:
    kind: pytorchjob
    command: [python3, ddp.py]
    replicas: {master: 1, worker: 3}
  etl:
    kind: spark
    spark:
      mainApplicationFile: local:///app/etl.py
      driver: {cores: 1, memory: 2g}
      executor: {cores: 2, memory: 4g, instances: 3}
services:
  api:
    command: [python3, app.py]
    port: 8080
  models:
    kind: serve
    modelRepository: file:///srv/models
    poll: 10s
notebook:
  port: 8888
  mounts: [data]
)";

TEST(ParseSpec, ReadsEveryFieldOfACompleteSpec) {
  const ParseResult result = parse(kFullSpec);
  ASSERT_TRUE(result.ok()) << joined(result);
  const Spec& spec = *result.spec;
  EXPECT_EQ(spec.name, "iris");
  ASSERT_TRUE(spec.image);
  EXPECT_EQ(spec.image->repository, "localhost:5000/iris");
  EXPECT_EQ(spec.image->buildArgs.at("PYTHON"), "3.11");
  EXPECT_EQ(spec.image->tags, (std::vector<std::string>{"git-commit", "build-number", "latest"}));

  const Storage& data = spec.storage.at("data");
  EXPECT_EQ(data.kind, StorageKind::kBlob);
  EXPECT_EQ(data.uri, "az://myaccount/datasets/iris");
  EXPECT_TRUE(data.readOnly);
  EXPECT_DOUBLE_EQ(data.cacheTimeoutSeconds, 300);
  EXPECT_EQ(data.secret, "azure");
  EXPECT_EQ(spec.storage.at("scratch").kind, StorageKind::kHostPath);
  EXPECT_EQ(spec.storage.at("scratch").path, "/mnt/ssd");
  EXPECT_EQ(spec.storage.at("archive").kind, StorageKind::kFileShare);

  EXPECT_EQ(spec.secrets.at("azure").fromEnv.size(), 2u);
  EXPECT_EQ(spec.secrets.at("db").fromFile, "secrets/db.env");

  const Job& train = spec.jobs.at("train");
  EXPECT_EQ(train.kind, JobKind::kJob);
  EXPECT_EQ(train.command, (std::vector<std::string>{"python3", "train.py"}));
  EXPECT_EQ(train.env.at("EPOCHS"), "10");
  EXPECT_EQ(train.mounts, (std::vector<std::string>{"data", "scratch"}));
  EXPECT_EQ(train.resources.cpu, "2");
  EXPECT_EQ(train.resources.memory, "4Gi");
  EXPECT_EQ(train.resources.gpu, 1);
  EXPECT_EQ(train.backoffLimit, 2);
  EXPECT_EQ(train.restartPolicy, "OnFailure");

  const Job& distributed = spec.jobs.at("distributed");
  EXPECT_EQ(distributed.kind, JobKind::kTFJob);
  EXPECT_EQ(distributed.command,
            (std::vector<std::string>{"/bin/sh", "-c", "python3 dist.py --steps 100"}));
  EXPECT_EQ(distributed.replicas.at("worker").count, 2);
  ASSERT_TRUE(distributed.replicas.at("worker").resources);
  EXPECT_EQ(distributed.replicas.at("worker").resources->gpu, 1);
  EXPECT_EQ(spec.jobs.at("torch").replicas.at("worker").count, 3);

  const Job& etl = spec.jobs.at("etl");
  ASSERT_TRUE(etl.spark);
  EXPECT_EQ(etl.spark->mainApplicationFile, "local:///app/etl.py");
  EXPECT_EQ(etl.spark->executorInstances, 3);
  EXPECT_EQ(etl.spark->driverMemory, "2g");

  EXPECT_EQ(spec.services.at("api").port, 8080);
  const Service& models = spec.services.at("models");
  EXPECT_EQ(models.kind, ServiceKind::kServe);
  EXPECT_EQ(models.port, 8000) << "serve listens on 8000 unless told otherwise";
  EXPECT_DOUBLE_EQ(models.pollSeconds, 10);
  ASSERT_TRUE(spec.notebook);
  EXPECT_EQ(spec.notebook->mounts, (std::vector<std::string>{"data"}));
}

TEST(ParseSpec, ReportsThreeMistakesAtOnceWithLocations) {
  const ParseResult result = parse(R"(name: demo
jobs:
  train:
    comand: [python3, train.py]
    backoffLimit: lots
services:
  api:
    port: 8080
)");
  ASSERT_FALSE(result.ok());
  const auto lines = formatted(result);
  ASSERT_EQ(lines.size(), 4u) << joined(result);
  EXPECT_EQ(lines[0],
            "skiff.yaml:4:5: jobs.train.comand: unknown field (did you mean \"command\"?)");
  EXPECT_EQ(lines[1],
            "skiff.yaml:4:5: jobs.train.command: missing required field (what the job runs, e.g. "
            "[python3, train.py])");
  EXPECT_EQ(lines[2],
            "skiff.yaml:5:19: jobs.train.backoffLimit: expected a whole number, got \"lots\"");
  EXPECT_EQ(lines[3],
            "skiff.yaml:8:5: services.api.command: missing required field (what the service runs, "
            "e.g. [python3, app.py])");
}

TEST(ParseSpec, MissingNameIsReported) {
  const ParseResult result = parse("jobs: {}\n");
  ASSERT_EQ(result.diagnostics.size(), 1u) << joined(result);
  EXPECT_EQ(result.diagnostics[0].path, "name");
  EXPECT_EQ(result.diagnostics[0].problem, "missing required field");
}

TEST(ParseSpec, EmptyFileIsReported) {
  const ParseResult result = parse("");
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].problem, "the file is empty");
}

TEST(ParseSpec, SyntaxErrorHasALocation) {
  const ParseResult result = parse("name: demo\njobs:\n  train: [unclosed\n");
  ASSERT_EQ(result.diagnostics.size(), 1u) << joined(result);
  EXPECT_NE(result.diagnostics[0].problem.find("YAML syntax error"), std::string::npos);
  EXPECT_GE(result.diagnostics[0].line, 3);
}

TEST(ParseSpec, TopLevelMustBeAMapping) {
  const ParseResult result = parse("- just\n- a list\n");
  ASSERT_EQ(result.diagnostics.size(), 1u) << joined(result);
  EXPECT_NE(result.diagnostics[0].problem.find("expected a mapping"), std::string::npos);
}

TEST(ParseSpec, NamesMustBeDnsLabels) {
  const ParseResult result = parse("name: My_Project\njobs:\n  Train_1:\n    command: [x]\n");
  const std::string text = joined(result);
  EXPECT_NE(text.find("skiff.yaml:1:7: name: \"My_Project\" is not a valid name"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("skiff.yaml:3:3: jobs.Train_1: not a valid name"), std::string::npos) << text;
}

TEST(ParseSpec, UnknownReferencesSuggestTheDefinedOnes) {
  const ParseResult result = parse(R"(name: demo
storage:
  data: {uri: "file:///srv/data", mountPath: /data}
jobs:
  train:
    command: [x]
    mounts: [dta]
    secrets: [azure]
)");
  const auto lines = formatted(result);
  ASSERT_EQ(lines.size(), 2u) << joined(result);
  EXPECT_EQ(lines[0],
            "skiff.yaml:7:14: jobs.train.mounts[0]: unknown storage \"dta\" (did you mean "
            "\"data\"?)");
  EXPECT_EQ(lines[1],
            "skiff.yaml:8:15: jobs.train.secrets[0]: unknown secret \"azure\" (no secret entries "
            "are defined)");
}

TEST(ParseSpec, KindsAreCheckedWithSuggestions) {
  const ParseResult result = parse("name: demo\njobs:\n  a:\n    kind: tfjobb\n    command: [x]\n");
  const std::string text = joined(result);
  EXPECT_NE(text.find("jobs.a.kind: \"tfjobb\" is not allowed here (expected job, tfjob, "
                      "pytorchjob or spark; did you mean \"tfjob\"?)"),
            std::string::npos)
      << text;
}

TEST(ParseSpec, FieldsOfAnotherKindAreRejected) {
  const ParseResult result = parse(R"(name: demo
jobs:
  a:
    command: [x]
    replicas: {worker: 2}
)");
  const std::string text = joined(result);
  EXPECT_NE(text.find("skiff.yaml:5:5: jobs.a.replicas: unknown field"), std::string::npos) << text;
}

TEST(ParseSpec, ReplicaRulesOfTheOperators) {
  const ParseResult result = parse(R"(name: demo
jobs:
  tf:
    kind: tfjob
    command: [x]
    replicas: {chief: 2, wroker: 1}
  pt:
    kind: pytorchjob
    command: [x]
    replicas: {worker: 2}
)");
  const std::string text = joined(result);
  EXPECT_NE(text.find("jobs.tf.replicas.wroker: unknown field (did you mean \"worker\"?)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("jobs.tf.replicas.chief: 2 replicas of role chief (at most 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("jobs.pt.replicas.master: missing required field"), std::string::npos)
      << text;
}

TEST(ParseSpec, StorageIsChecked) {
  const ParseResult result = parse(R"(name: demo
storage:
  a: {uri: "s3://bucket/x", mountPath: /a}
  b: {uri: "az://onlyaccount", mountPath: relative}
  c: {kind: hostPath, mountPath: /c}
  d: {uri: "file:///x", mountPath: /d, cacheTimeout: soon, readOnly: "yes"}
)");
  const std::string text = joined(result);
  EXPECT_NE(text.find("storage.a.uri: \"s3://bucket/x\": not a blob URI"), std::string::npos)
      << text;
  EXPECT_NE(text.find("storage.b.uri: \"az://onlyaccount\": an az:// URI needs an account and a "
                      "container"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("storage.b.mountPath: \"relative\" is not an absolute path"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("storage.c.path: missing required field"), std::string::npos) << text;
  EXPECT_NE(text.find("storage.d.cacheTimeout: \"soon\" is not a duration"), std::string::npos)
      << text;
  EXPECT_NE(text.find("storage.d.readOnly: expected true or false, got \"yes\""), std::string::npos)
      << text;
}

// Who mounts az:// storage in pods: skiff's CSI driver unless the entry says azure.
TEST(ParseSpec, BlobStorageNamesItsDriver) {
  const ParseResult result = parse(R"(name: demo
storage:
  ours: {uri: "az://account/c", mountPath: /a}
  theirs: {uri: "az://account/c", mountPath: /b, driver: azure}
  typo: {uri: "az://account/c", mountPath: /c, driver: blobfuse}
  share: {kind: fileShare, uri: "azfile://account/s", mountPath: /d, driver: skiff}
)");
  const std::string text = joined(result);
  EXPECT_NE(text.find("storage.typo.driver: "), std::string::npos) << text;
  EXPECT_NE(text.find("blobfuse"), std::string::npos) << text;
  EXPECT_NE(text.find("storage.share.driver"), std::string::npos)
      << "a file share has no driver choice";
  const ParseResult good = parse(R"(name: demo
storage:
  ours: {uri: "az://account/c", mountPath: /a}
  theirs: {uri: "az://account/c", mountPath: /b, driver: azure}
)");
  ASSERT_TRUE(good.ok()) << joined(good);
  EXPECT_EQ(good.spec->storage.at("ours").driver, BlobDriver::kSkiff);
  EXPECT_EQ(good.spec->storage.at("theirs").driver, BlobDriver::kAzure);
}

TEST(ParseSpec, SecretsNeedExactlyOneSource) {
  const ParseResult result = parse(R"(name: demo
secrets:
  none: {}
  both: {fromEnv: [A], fromFile: a.env}
  badname: {fromEnv: [1BAD]}
)");
  const std::string text = joined(result);
  EXPECT_NE(text.find("secrets.none: no source for the secret's values"), std::string::npos)
      << text;
  EXPECT_NE(text.find("secrets.both: more than one source"), std::string::npos) << text;
  EXPECT_NE(text.find("secrets.badname.fromEnv[0]: \"1BAD\" is not an environment variable name"),
            std::string::npos)
      << text;
}

TEST(ParseSpec, ResourcesAreKubernetesQuantities) {
  const ParseResult result = parse(R"(name: demo
jobs:
  a:
    command: [x]
    resources: {cpu: lots, memory: 4GB, gpu: -1}
)");
  const std::string text = joined(result);
  EXPECT_NE(text.find("jobs.a.resources.cpu: \"lots\" is not a quantity"), std::string::npos)
      << text;
  EXPECT_NE(text.find("jobs.a.resources.memory: \"4GB\" is not a quantity"), std::string::npos)
      << text;
  EXPECT_NE(text.find("jobs.a.resources.gpu: -1 is out of range (expected 0 to 64)"),
            std::string::npos)
      << text;
}

TEST(ParseSpec, DuplicateKeysAreErrors) {
  const ParseResult result = parse("name: a\nname: b\n");
  const std::string text = joined(result);
  EXPECT_NE(text.find("skiff.yaml:2:1: name: field is given twice"), std::string::npos) << text;
}

TEST(ParseSpec, QuotedNumbersAreStrings) {
  const ParseResult result =
      parse("name: demo\nservices:\n  api: {command: [x], port: \"8080\"}\n");
  const std::string text = joined(result);
  EXPECT_NE(text.find("services.api.port: expected a whole number, got \"8080\""),
            std::string::npos)
      << text;
}

// Nine levels of ten aliases each: 10^9 nodes once expanded, 1 KiB as text.
std::string billionLaughs() {
  std::string yaml = "name: bomb\nlol0: &l0 [lol]\n";
  for (int level = 1; level <= 9; ++level) {
    yaml += fmt::format("lol{}: &l{} [", level, level);
    for (int i = 0; i < 10; ++i) yaml += fmt::format("{}*l{}", i ? ", " : "", level - 1);
    yaml += "]\n";
  }
  return yaml + "jobs: {train: {command: *l9}}\n";
}

TEST(ParseSpec, AliasBombsAreRefusedAtTheAliasThatCrossesTheBudget) {
  const auto started = std::chrono::steady_clock::now();
  const ParseResult result = parse(billionLaughs());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u) << joined(result);
  const std::string text = joined(result);
  // Level 5 holds 10^5 nodes: its aliases cross the budget of 100,000.
  EXPECT_NE(text.find("skiff.yaml:7:"), std::string::npos) << text;
  EXPECT_NE(text.find("expands the document past 100000 nodes"), std::string::npos) << text;
  EXPECT_NE(text.find("use fewer aliases"), std::string::npos) << text;
}

TEST(ParseSpec, AliasesNestedTooDeepAreRefused) {
  // Each level is small, but the expansion nests 70 lists deep, past a
  // skiff.yaml's bound of 32.
  std::string yaml = "name: deep\na0: &a0 [x]\n";
  for (int level = 1; level < 70; ++level) {
    yaml += fmt::format("a{}: &a{} [*a{}]\n", level, level, level - 1);
  }
  const ParseResult result = parse(yaml);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(joined(result).find("this alias expands the document deeper than 32 levels"),
            std::string::npos)
      << joined(result);
}

TEST(ParseSpec, MergeKeysMergeMappingsAndOwnKeysWin) {
  const ParseResult result = parse(R"(name: demo
x-defaults: &defaults
  command: [python3, train.py]
  env: &env {EPOCHS: "10", SEED: "1"}
  resources: {cpu: 1, memory: 1Gi}
jobs:
  train:
    <<: *defaults
    env:
      <<: *env
      EPOCHS: "20"
  eval:
    <<: [*defaults]
    command: [python3, eval.py]
)");
  // x- fields hold anchors, as in Compose files; nothing else reads them.
  ASSERT_TRUE(result.ok()) << joined(result);
  const auto& train = result.spec->jobs.at("train");
  EXPECT_EQ(train.command, (std::vector<std::string>{"python3", "train.py"}));
  EXPECT_EQ(train.env.at("EPOCHS"), "20");
  EXPECT_EQ(train.env.at("SEED"), "1");
  EXPECT_EQ(train.resources.memory, "1Gi");
  const auto& eval = result.spec->jobs.at("eval");
  EXPECT_EQ(eval.command, (std::vector<std::string>{"python3", "eval.py"}));
  EXPECT_EQ(eval.env.at("EPOCHS"), "10");
}

TEST(ParseSpec, MergeKeysTakeOnlyMappings) {
  const ParseResult result = parse("name: demo\njobs:\n  train:\n    <<: [a, b]\n");
  EXPECT_NE(joined(result).find("<< merges mappings, got \"a\""), std::string::npos)
      << joined(result);
}

TEST(ParseSpec, ServeNeedsAModelRepository) {
  const ParseResult result = parse("name: demo\nservices:\n  models: {kind: serve}\n");
  const std::string text = joined(result);
  EXPECT_NE(text.find("services.models.modelRepository: missing required field"), std::string::npos)
      << text;
}

TEST(ParseSpec, ServeTakesAGrpcPortAndBatching) {
  const ParseResult result = parse(R"(name: demo
services:
  models:
    kind: serve
    modelRepository: file:///models
    grpcPort: 8001
    batching: {maxBatchSize: 64, maxQueueDelay: 2ms, preferredBatchSize: [32, 16]}
  one:
    kind: serve
    modelRepository: file:///models
    port: 9000
    batching: {maxBatchSize: 8, preferredBatchSize: 8}
)");
  ASSERT_TRUE(result.ok()) << joined(result);
  const Service& models = result.spec->services.at("models");
  EXPECT_EQ(models.grpcPort, 8001);
  ASSERT_TRUE(models.batching);
  EXPECT_EQ(models.batching->maxBatchSize, 64);
  EXPECT_EQ(models.batching->maxQueueDelayMicroseconds, 2000);
  EXPECT_EQ(models.batching->preferredBatchSizes, (std::vector<int64_t>{16, 32}));
  const Service& one = result.spec->services.at("one");
  EXPECT_EQ(one.grpcPort, 0) << "no gRPC unless asked for";
  ASSERT_TRUE(one.batching);
  EXPECT_FALSE(one.batching->maxQueueDelayMicroseconds) << "the server's default";
  EXPECT_EQ(one.batching->preferredBatchSizes, (std::vector<int64_t>{8}));
}

TEST(ParseSpec, GrpcPortAndBatchingAreChecked) {
  const ParseResult result = parse(R"(name: demo
services:
  a:
    kind: serve
    modelRepository: file:///models
    grpcPort: 8000
    batching: {maxQueueDelay: 2s, preferredBatchSize: []}
  b:
    kind: serve
    modelRepository: file:///models
    grpcPort: "8001"
    batching: {maxBatchSize: 4, preferredBatchSize: [2, 8], maxBatchsize: 3}
  c:
    command: [app]
    grpcPort: 8001
    batching: {maxBatchSize: 4}
)");
  const std::string text = joined(result);
  for (const char* expected : {
           "skiff.yaml:6:15: services.a.grpcPort: 8000 is the port of the REST API as well "
           "(another port, e.g. 8001)",
           "skiff.yaml:7:15: services.a.batching.maxBatchSize: missing required field",
           "skiff.yaml:7:31: services.a.batching.maxQueueDelay: 2s is longer than a request may "
           "wait (at most 1s, e.g. 2ms)",
           "services.a.batching.preferredBatchSize: the list is empty",
           "skiff.yaml:11:15: services.b.grpcPort: expected a whole number, got \"8001\"",
           "services.b.batching.preferredBatchSize: 8 is above maxBatchSize (4)",
           "services.b.batching.maxBatchsize: unknown field (did you mean \"maxBatchSize\"?)",
           "services.c.grpcPort: unknown field",
           "services.c.batching: unknown field",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
}

TEST(LoadProject, MissingFileSaysWhatToDo) {
  skiff::testing::TempDir dir;
  const ParseResult result = loadProject(dir.path());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].problem, "no such file");
  EXPECT_NE(result.diagnostics[0].file.find("skiff.yaml"), std::string::npos);
}

TEST(LoadProject, ExamplesAreValid) {
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(SKIFF_SOURCE_DIR) / "examples")) {
    const ParseResult result = loadProject(entry.path());
    EXPECT_TRUE(result.ok()) << entry.path() << "\n" << joined(result);
  }
}

TEST(LoadProject, TheDocumentedExampleIsValid) {
  // docs/skiff-yaml.md carries a complete example between ```yaml fences; it must parse.
  std::ifstream in(std::filesystem::path(SKIFF_SOURCE_DIR) / "docs" / "skiff-yaml.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::string fence = "<!-- complete-example -->\n```yaml\n";
  const auto start = doc.find(fence);
  ASSERT_NE(start, std::string::npos) << "docs/skiff-yaml.md lost its complete example";
  const auto end = doc.find("```", start + fence.size());
  const std::string yaml = doc.substr(start + fence.size(), end - start - fence.size());
  const ParseResult result = parseSpec(yaml, "docs/skiff-yaml.md");
  EXPECT_TRUE(result.ok()) << joined(result);
  EXPECT_FALSE(result.spec->jobs.empty());
}

}  // namespace
}  // namespace skiff::spec
