#include "spec/parse.hpp"

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <tuple>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "common/yaml_load.hpp"

namespace skiff::spec {
namespace {

// Names end up in Kubernetes object names and labels: DNS-1123 labels.
const std::regex kDnsLabel("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$");
const std::regex kEnvName("^[A-Za-z_][A-Za-z0-9_]*$");
const std::regex kQuantity("^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$");
const char* kDnsLabelRule = "lowercase letters, digits and '-', at most 63, e.g. \"train-model\"";

const std::vector<std::string> kTopKeys = {"name", "image",    "storage", "secrets",
                                           "jobs", "services", "notebook"};
const std::vector<std::string> kWorkloadKeys = {"command", "workingDir", "env",
                                                "secrets", "mounts",     "resources"};
const std::vector<std::string> kTagPolicies = {"git-commit", "build-number", "branch", "datetime",
                                               "latest"};

std::vector<std::string> withKeys(std::vector<std::string> base,
                                  std::initializer_list<const char*> extra) {
  for (const char* key : extra) base.emplace_back(key);
  return base;
}

std::string kindOf(const YAML::Node& node, const char* fallback) {
  if (node.IsMap()) {
    const YAML::Node kind = node["kind"];
    if (kind.IsDefined() && kind.IsScalar()) return kind.Scalar();
  }
  return fallback;
}

// Checks a blob URI; returns what is wrong with it, or nothing.
std::optional<std::string> blobUriProblem(const std::string& uri) {
  if (uri.rfind("file://", 0) == 0) {
    if (uri.size() <= 7 || uri[7] != '/') return "a file:// URI needs an absolute path";
    return std::nullopt;
  }
  if (uri.rfind("az://", 0) == 0) {
    const std::string rest = uri.substr(5);
    const auto slash = rest.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size()) {
      return "an az:// URI needs an account and a container";
    }
    return std::nullopt;
  }
  return "not a blob URI";
}

class SpecParser {
 public:
  explicit SpecParser(Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

  Spec parse(const YAML::Node& root) {
    Spec spec;
    if (!root.IsDefined() || root.IsNull()) {
      diagnostics_.add(root.Mark(), "", "the file is empty",
                       "at least \"name:\"; see docs/skiff-yaml.md");
      return spec;
    }
    MapReader top(root, "", diagnostics_, kTopKeys);
    if (!top.isMapping()) return spec;
    if (top.require("name", "the project name, " + std::string(kDnsLabelRule))) {
      spec.name = label(top, "name").value_or("");
    }
    if (top.has("image")) spec.image = parseImage(top.node("image"), top.pathOf("image"));
    // Secrets first: storage, jobs and services refer to them.
    spec.secrets = parseNamed<Secret>(top, "secrets", &SpecParser::parseSecret);
    secretNames_ = keysOf(spec.secrets);
    spec.storage = parseNamed<Storage>(top, "storage", &SpecParser::parseStorage);
    storageNames_ = keysOf(spec.storage);
    spec.jobs = parseNamed<Job>(top, "jobs", &SpecParser::parseJob);
    spec.services = parseNamed<Service>(top, "services", &SpecParser::parseService);
    if (top.has("notebook")) {
      spec.notebook = parseNotebook(top.node("notebook"), top.pathOf("notebook"));
    }
    return spec;
  }

 private:
  template <typename T>
  static std::vector<std::string> keysOf(const std::map<std::string, T>& items) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : items) keys.push_back(key);
    return keys;
  }

  std::optional<std::string> label(const MapReader& reader, std::string_view key) {
    auto value = reader.string(key);
    if (value && !std::regex_match(*value, kDnsLabel)) {
      reader.report(key, fmt::format("\"{}\" is not a valid name", *value), kDnsLabelRule);
      return std::nullopt;
    }
    return value;
  }

  // A mapping of entry name -> entry, each parsed by `parseOne`.
  template <typename T>
  std::map<std::string, T> parseNamed(const MapReader& top, std::string_view key,
                                      T (SpecParser::*parseOne)(const std::string&,
                                                                const YAML::Node&,
                                                                const std::string&)) {
    std::map<std::string, T> items;
    if (!top.has(key)) return items;
    const YAML::Node section = top.node(key);
    if (section.IsNull()) return items;
    if (!section.IsMap()) {
      top.report(key, "expected a mapping of names to entries, got " + describeNode(section));
      return items;
    }
    std::vector<std::string> seen;
    for (const auto& entry : section) {
      const std::string path = top.pathOf(key);
      const auto name = readScalar(entry.first, path, diagnostics_);
      if (!name) continue;
      const std::string entryPath = path + "." + *name;
      if (!std::regex_match(*name, kDnsLabel)) {
        diagnostics_.add(entry.first.Mark(), entryPath, "not a valid name", kDnsLabelRule);
      }
      if (std::find(seen.begin(), seen.end(), *name) != seen.end()) {
        diagnostics_.add(entry.first.Mark(), entryPath, "name is given twice", "keep one");
        continue;
      }
      seen.push_back(*name);
      if (!entry.second.IsMap()) {
        diagnostics_.add(entry.second.Mark().is_null() ? entry.first.Mark() : entry.second.Mark(),
                         entryPath, "expected a mapping, got " + describeNode(entry.second));
        continue;
      }
      T item = (this->*parseOne)(*name, entry.second, entryPath);
      item.name = *name;
      items.emplace(*name, std::move(item));
    }
    return items;
  }

  Image parseImage(const YAML::Node& node, const std::string& path) {
    Image image;
    MapReader r(node, path, diagnostics_,
                {"dockerfile", "context", "repository", "target", "buildArgs", "tags"});
    if (r.require("repository", "the image repository, e.g. localhost:5000/iris")) {
      image.repository = r.string("repository").value_or("");
    }
    image.dockerfile = r.string("dockerfile").value_or(image.dockerfile);
    image.context = r.string("context").value_or(image.context);
    image.target = r.string("target").value_or("");
    image.buildArgs = r.stringMap("buildArgs").value_or(image.buildArgs);
    if (r.has("tags")) {
      const YAML::Node tags = r.node("tags");
      if (!tags.IsSequence()) {
        r.report("tags", "expected a list of tag policies, got " + describeNode(tags),
                 "any of " + joinAlternatives(kTagPolicies));
      } else {
        image.tags.clear();
        for (size_t i = 0; i < tags.size(); ++i) {
          const std::string itemPath = fmt::format("{}[{}]", r.pathOf("tags"), i);
          const auto tag = readScalar(tags[i], itemPath, diagnostics_);
          if (!tag) continue;
          if (std::find(kTagPolicies.begin(), kTagPolicies.end(), *tag) == kTagPolicies.end()) {
            std::string expected = "expected " + joinAlternatives(kTagPolicies);
            if (auto guess = closestMatch(*tag, kTagPolicies)) {
              expected += fmt::format("; did you mean \"{}\"?", *guess);
            }
            diagnostics_.add(tags[i].Mark(), itemPath,
                             fmt::format("unknown tag policy \"{}\"", *tag), expected);
            continue;
          }
          image.tags.push_back(*tag);
        }
      }
    }
    return image;
  }

  void absolutePath(const MapReader& r, std::string_view key, std::string& out) {
    const auto value = r.string(key);
    if (!value) return;
    if (value->empty() || (*value)[0] != '/') {
      r.report(key, fmt::format("\"{}\" is not an absolute path", *value), "e.g. /data");
      return;
    }
    out = *value;
  }

  Storage parseStorage(const std::string&, const YAML::Node& node, const std::string& path) {
    static const std::vector<std::string> kinds = {"blob", "hostPath", "fileShare"};
    const std::string kind = kindOf(node, "blob");
    std::vector<std::string> keys = {"kind", "mountPath", "readOnly"};
    if (kind == "blob") keys = withKeys(keys, {"uri", "cacheTimeout", "secret", "driver"});
    if (kind == "hostPath") keys = withKeys(keys, {"path"});
    if (kind == "fileShare") keys = withKeys(keys, {"uri", "secret"});
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      keys = withKeys(keys, {"uri", "cacheTimeout", "secret", "path", "driver"});
    }
    MapReader r(node, path, diagnostics_, keys);
    Storage storage;
    if (const auto chosen = r.choice("kind", kinds)) {
      storage.kind = *chosen == "hostPath"    ? StorageKind::kHostPath
                     : *chosen == "fileShare" ? StorageKind::kFileShare
                                              : StorageKind::kBlob;
    }
    if (r.require("mountPath", "where it appears in jobs and services, e.g. /data")) {
      absolutePath(r, "mountPath", storage.mountPath);
    }
    storage.readOnly = r.boolean("readOnly").value_or(false);
    storage.cacheTimeoutSeconds = r.duration("cacheTimeout").value_or(120);
    storage.secret = reference(r, "secret", secretNames_, "secret");
    if (storage.kind == StorageKind::kHostPath) {
      if (r.require("path", "a directory on the machine, e.g. /mnt/ssd")) {
        absolutePath(r, "path", storage.path);
      }
    } else if (r.require("uri", storage.kind == StorageKind::kBlob
                                    ? "az://ACCOUNT/CONTAINER/PREFIX or file:///PATH"
                                    : "azfile://ACCOUNT/SHARE")) {
      storage.uri = r.string("uri").value_or("");
      checkStorageUri(r, storage);
    }
    if (const auto driver = r.choice("driver", {"skiff", "azure"})) {
      storage.driver = *driver == "azure" ? BlobDriver::kAzure : BlobDriver::kSkiff;
    }
    return storage;
  }

  void checkStorageUri(const MapReader& r, const Storage& storage) {
    if (storage.uri.empty()) return;
    if (storage.kind == StorageKind::kBlob) {
      if (const auto problem = blobUriProblem(storage.uri)) {
        r.report("uri", fmt::format("\"{}\": {}", storage.uri, *problem),
                 "az://ACCOUNT/CONTAINER/PREFIX or file:///PATH");
      }
      return;
    }
    const std::string scheme = "azfile://";
    const auto slash = storage.uri.find('/', scheme.size());
    if (storage.uri.rfind(scheme, 0) != 0 || slash == std::string::npos ||
        slash + 1 >= storage.uri.size()) {
      r.report("uri", fmt::format("\"{}\" is not a file share URI", storage.uri),
               "azfile://ACCOUNT/SHARE");
    }
  }

  Secret parseSecret(const std::string&, const YAML::Node& node, const std::string& path) {
    MapReader r(node, path, diagnostics_, {"fromEnv", "fromFile", "existing"});
    Secret secret;
    const int sources = int(r.has("fromEnv")) + int(r.has("fromFile")) + int(r.has("existing"));
    if (sources != 1 && r.isMapping()) {
      diagnostics_.add(node.Mark(), path,
                       sources == 0 ? "no source for the secret's values"
                                    : "more than one source for the secret's values",
                       "exactly one of fromEnv, fromFile or existing");
    }
    if (const auto names = r.stringList("fromEnv")) {
      const YAML::Node list = r.node("fromEnv");
      for (size_t i = 0; i < names->size(); ++i) {
        if (!std::regex_match((*names)[i], kEnvName)) {
          diagnostics_.add(list[i].Mark(), fmt::format("{}[{}]", r.pathOf("fromEnv"), i),
                           fmt::format("\"{}\" is not an environment variable name", (*names)[i]),
                           "letters, digits and '_', e.g. AZURE_STORAGE_KEY");
        }
      }
      secret.fromEnv = *names;
    }
    secret.fromFile = r.string("fromFile").value_or("");
    secret.existing = r.boolean("existing").value_or(false);
    return secret;
  }

  // A name in `key` that must be one of `defined` (storage or secrets entries).
  std::string reference(const MapReader& r, std::string_view key,
                        const std::vector<std::string>& defined, const char* what) {
    const auto name = r.string(key);
    if (!name) return {};
    if (!checkReference(r.markOf(key), r.pathOf(key), *name, defined, what)) return {};
    return *name;
  }

  bool checkReference(const YAML::Mark& mark, const std::string& path, const std::string& name,
                      const std::vector<std::string>& defined, const char* what) {
    if (std::find(defined.begin(), defined.end(), name) != defined.end()) return true;
    std::string expected = defined.empty() ? fmt::format("no {} entries are defined", what)
                                           : fmt::format("defined: {}", joinAlternatives(defined));
    if (const auto guess = closestMatch(name, defined)) {
      expected = fmt::format("did you mean \"{}\"?", *guess);
    }
    diagnostics_.add(mark, path, fmt::format("unknown {} \"{}\"", what, name), expected);
    return false;
  }

  std::vector<std::string> references(const MapReader& r, std::string_view key,
                                      const std::vector<std::string>& defined, const char* what) {
    std::vector<std::string> names;
    const auto list = r.stringList(key);
    if (!list) return names;
    const YAML::Node nodes = r.node(key);
    for (size_t i = 0; i < list->size(); ++i) {
      if (checkReference(nodes[i].Mark(), fmt::format("{}[{}]", r.pathOf(key), i), (*list)[i],
                         defined, what)) {
        names.push_back((*list)[i]);
      }
    }
    return names;
  }

  Resources parseResources(const YAML::Node& node, const std::string& path) {
    MapReader r(node, path, diagnostics_, {"cpu", "memory", "gpu"});
    Resources resources;
    for (const char* key : {"cpu", "memory"}) {
      const auto value = r.string(key);
      if (!value) continue;
      if (!std::regex_match(*value, kQuantity)) {
        r.report(key, fmt::format("\"{}\" is not a quantity", *value),
                 std::string(key) == "cpu" ? "cores, e.g. 2 or 500m" : "bytes, e.g. 512Mi or 4Gi");
        continue;
      }
      (std::string(key) == "cpu" ? resources.cpu : resources.memory) = *value;
    }
    resources.gpu = static_cast<int>(r.integer("gpu", 0, 64).value_or(0));
    return resources;
  }

  std::vector<std::string> command(const MapReader& r) {
    if (!r.has("command")) return {};
    // A single string runs through the shell, as a Dockerfile's shell form does.
    if (r.node("command").IsScalar()) return {"/bin/sh", "-c", r.node("command").Scalar()};
    auto list = r.stringList("command").value_or(std::vector<std::string>{});
    if (list.empty() && r.node("command").IsSequence()) {
      r.report("command", "the command is empty", "e.g. [python3, train.py]");
    }
    return list;
  }

  void parseWorkload(const MapReader& r, Workload& workload) {
    workload.command = command(r);
    workload.workingDir = r.string("workingDir").value_or("");
    if (auto env = r.stringMap("env")) {
      for (const auto& [name, value] : *env) {
        if (!std::regex_match(name, kEnvName)) {
          r.report("env", fmt::format("\"{}\" is not an environment variable name", name),
                   "letters, digits and '_'");
        }
      }
      workload.env = std::move(*env);
    }
    workload.secrets = references(r, "secrets", secretNames_, "secret");
    workload.mounts = references(r, "mounts", storageNames_, "storage");
    if (r.has("resources")) {
      workload.resources = parseResources(r.node("resources"), r.pathOf("resources"));
    }
  }

  Job parseJob(const std::string&, const YAML::Node& node, const std::string& path) {
    static const std::vector<std::string> kinds = {"job", "tfjob", "pytorchjob", "spark"};
    const std::string kind = kindOf(node, "job");
    std::vector<std::string> keys =
        withKeys(kWorkloadKeys, {"kind", "restartPolicy", "backoffLimit"});
    if (kind == "tfjob" || kind == "pytorchjob") keys = withKeys(keys, {"replicas"});
    if (kind == "spark") keys = {"kind", "env", "secrets", "mounts", "spark"};
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      keys = withKeys(keys, {"replicas", "spark"});
    }
    MapReader r(node, path, diagnostics_, keys);
    Job job;
    if (const auto chosen = r.choice("kind", kinds)) {
      job.kind = *chosen == "tfjob"        ? JobKind::kTFJob
                 : *chosen == "pytorchjob" ? JobKind::kPyTorchJob
                 : *chosen == "spark"      ? JobKind::kSpark
                                           : JobKind::kJob;
    }
    parseWorkload(r, job);
    if (job.kind == JobKind::kSpark) {
      if (r.require("spark", "the Spark application: mainApplicationFile, driver, executor")) {
        job.spark = parseSpark(r.node("spark"), r.pathOf("spark"));
      }
      return job;
    }
    r.require("command", "what the job runs, e.g. [python3, train.py]");
    job.restartPolicy = r.choice("restartPolicy", {"Never", "OnFailure"}).value_or("Never");
    job.backoffLimit = static_cast<int>(r.integer("backoffLimit", 0, 100).value_or(0));
    if (job.kind == JobKind::kTFJob || job.kind == JobKind::kPyTorchJob) {
      job.replicas = parseReplicas(r, job.kind);
    }
    return job;
  }

  std::map<std::string, Replica> parseReplicas(const MapReader& r, JobKind kind) {
    const bool tf = kind == JobKind::kTFJob;
    const std::vector<std::string> roles =
        tf ? std::vector<std::string>{"chief", "ps", "worker", "evaluator"}
           : std::vector<std::string>{"master", "worker"};
    std::map<std::string, Replica> replicas;
    if (!r.require("replicas", "replica counts per role: " + joinAlternatives(roles))) {
      return replicas;
    }
    MapReader roleReader(r.node("replicas"), r.pathOf("replicas"), diagnostics_, roles);
    for (const auto& [role, value] : roleReader.entries()) {
      Replica replica;
      if (value.IsMap()) {
        MapReader detail(value, roleReader.pathOf(role), diagnostics_, {"count", "resources"});
        replica.count = static_cast<int>(detail.integer("count", 0, 1000).value_or(1));
        if (detail.has("resources")) {
          replica.resources = parseResources(detail.node("resources"), detail.pathOf("resources"));
        }
      } else {
        replica.count = static_cast<int>(roleReader.integer(role, 0, 1000).value_or(1));
      }
      const bool single = role == "chief" || role == "evaluator" || role == "master";
      if (single && replica.count > 1) {
        roleReader.report(role, fmt::format("{} replicas of role {}", replica.count, role),
                          "at most 1");
      }
      replicas[role] = replica;
    }
    if (roleReader.isMapping()) {
      if (!tf && !replicas.count("master")) {
        roleReader.require("master", "a PyTorchJob needs exactly one master");
      }
      if (tf && !replicas.count("chief") && !replicas.count("worker")) {
        roleReader.require("worker", "a TFJob needs a chief or at least one worker");
      }
    }
    return replicas;
  }

  SparkSettings parseSpark(const YAML::Node& node, const std::string& path) {
    MapReader r(node, path, diagnostics_,
                {"mainApplicationFile", "mainClass", "type", "sparkVersion", "arguments", "driver",
                 "executor"});
    SparkSettings spark;
    if (r.require("mainApplicationFile", "e.g. local:///app/etl.py")) {
      spark.mainApplicationFile = r.string("mainApplicationFile").value_or("");
    }
    spark.mainClass = r.string("mainClass").value_or("");
    spark.type = r.choice("type", {"Python", "Scala", "Java", "R"}).value_or(spark.type);
    spark.sparkVersion = r.string("sparkVersion").value_or(spark.sparkVersion);
    spark.arguments = r.stringList("arguments").value_or(spark.arguments);
    if ((spark.type == "Scala" || spark.type == "Java") && spark.mainClass.empty() &&
        r.isMapping()) {
      r.require("mainClass", "the entry class of a " + spark.type + " application");
    }
    if (r.has("driver")) {
      MapReader driver(r.node("driver"), r.pathOf("driver"), diagnostics_, {"cores", "memory"});
      spark.driverCores = static_cast<int>(driver.integer("cores", 1, 256).value_or(1));
      spark.driverMemory = driver.string("memory").value_or(spark.driverMemory);
    }
    if (r.has("executor")) {
      MapReader executor(r.node("executor"), r.pathOf("executor"), diagnostics_,
                         {"cores", "memory", "instances"});
      spark.executorCores = static_cast<int>(executor.integer("cores", 1, 256).value_or(1));
      spark.executorMemory = executor.string("memory").value_or(spark.executorMemory);
      spark.executorInstances =
          static_cast<int>(executor.integer("instances", 1, 10000).value_or(1));
    }
    return spark;
  }

  Service parseService(const std::string&, const YAML::Node& node, const std::string& path) {
    static const std::vector<std::string> kinds = {"service", "serve"};
    const std::string kind = kindOf(node, "service");
    std::vector<std::string> keys = withKeys(kWorkloadKeys, {"kind", "port", "replicas", "image"});
    if (kind != "service")
      keys = withKeys(keys, {"modelRepository", "poll", "grpcPort", "batching"});
    MapReader r(node, path, diagnostics_, keys);
    Service service;
    if (r.choice("kind", kinds).value_or("service") == "serve") {
      service.kind = ServiceKind::kServe;
      service.port = 8000;
    }
    parseWorkload(r, service);
    service.port = static_cast<int>(r.integer("port", 1, 65535).value_or(service.port));
    service.replicas = static_cast<int>(r.integer("replicas", 0, 1000).value_or(1));
    service.image = r.string("image").value_or("");
    if (service.kind == ServiceKind::kService) {
      r.require("command", "what the service runs, e.g. [python3, app.py]");
      return service;
    }
    if (r.require("modelRepository", "az://ACCOUNT/CONTAINER/models, file:///PATH or a path")) {
      service.modelRepository = r.string("modelRepository").value_or("");
      const bool uri = service.modelRepository.find("://") != std::string::npos;
      if (uri) {
        if (const auto problem = blobUriProblem(service.modelRepository)) {
          r.report("modelRepository", fmt::format("\"{}\": {}", service.modelRepository, *problem),
                   "az://ACCOUNT/CONTAINER/PREFIX, file:///PATH or a path");
        }
      }
    }
    service.pollSeconds = r.duration("poll").value_or(service.pollSeconds);
    service.grpcPort = static_cast<int>(r.integer("grpcPort", 1, 65535).value_or(0));
    if (service.grpcPort == service.port) {
      r.report("grpcPort", fmt::format("{} is the port of the REST API as well", service.port),
               "another port, e.g. 8001");
    }
    if (r.has("batching")) {
      service.batching = parseServeBatching(r.node("batching"), r.pathOf("batching"));
    }
    return service;
  }

  // The same limits as config.yaml's max_batch_size and dynamic_batching.
  ServeBatching parseServeBatching(const YAML::Node& node, const std::string& path) {
    static constexpr int64_t kMostRows = 1 << 20;
    MapReader r(node, path, diagnostics_, {"maxBatchSize", "maxQueueDelay", "preferredBatchSize"});
    ServeBatching batching;
    if (r.require("maxBatchSize", "the most rows one batch takes, e.g. 64")) {
      batching.maxBatchSize = r.integer("maxBatchSize", 1, kMostRows).value_or(0);
    }
    if (const auto seconds = r.duration("maxQueueDelay")) {
      if (*seconds > 1) {
        r.report("maxQueueDelay", fmt::format("{:g}s is longer than a request may wait", *seconds),
                 "at most 1s, e.g. 2ms");
      } else {
        batching.maxQueueDelayMicroseconds = std::llround(*seconds * 1e6);
      }
    }
    batching.preferredBatchSizes =
        r.integers("preferredBatchSize", 1, kMostRows).value_or(std::vector<int64_t>{});
    std::sort(batching.preferredBatchSizes.begin(), batching.preferredBatchSizes.end());
    if (batching.maxBatchSize > 0 && !batching.preferredBatchSizes.empty() &&
        batching.preferredBatchSizes.back() > batching.maxBatchSize) {
      r.report("preferredBatchSize",
               fmt::format("{} is above maxBatchSize ({})", batching.preferredBatchSizes.back(),
                           batching.maxBatchSize),
               "sizes up to maxBatchSize");
    }
    return batching;
  }

  Notebook parseNotebook(const YAML::Node& node, const std::string& path) {
    MapReader r(node, path, diagnostics_, withKeys(kWorkloadKeys, {"port"}));
    Notebook notebook;
    notebook.name = "notebook";
    parseWorkload(r, notebook);
    notebook.port = static_cast<int>(r.integer("port", 1, 65535).value_or(notebook.port));
    return notebook;
  }

  Diagnostics& diagnostics_;
  std::vector<std::string> storageNames_;
  std::vector<std::string> secretNames_;
};

// How deep a skiff.yaml nests at most is 6 (services.NAME.env.KEY, ...):
// anything near this bound is not a spec, and walking it costs memory.
constexpr int kMaxDepth = 32;
constexpr const char* kNestingHint =
    "a skiff.yaml nests at most a few levels; see docs/skiff-yaml.md";

}  // namespace

ParseResult parseSpec(std::string_view yamlText, const std::string& fileName) {
  Diagnostics diagnostics(fileName);
  ParseResult result;
  std::vector<YAML::Node> documents;
  try {
    documents = loadAllYaml(yamlText, YamlBudget{.maxDepth = kMaxDepth});
  } catch (const YAML::DeepRecursion& e) {
    diagnostics.add(e.mark, "", fmt::format("nested deeper than {} levels", e.depth()),
                    kNestingHint);
    result.diagnostics = diagnostics.all();
    return result;
  } catch (const YamlTooLarge& e) {
    diagnostics.add(e.mark, "", e.msg,
                    e.byAliases ? "a skiff.yaml is a few hundred nodes: use fewer aliases (*name) "
                                  "and merge keys (<<), or write the values out"
                                : kNestingHint);
    result.diagnostics = diagnostics.all();
    return result;
  } catch (const YAML::Exception& e) {
    diagnostics.add(e.mark, "", "YAML syntax error: " + e.msg,
                    "check indentation and quoting around this place");
    result.diagnostics = diagnostics.all();
    return result;
  }
  // A later document would be silently ignored: say so instead.
  if (documents.size() > 1) {
    diagnostics.add(
        documents[1].Mark(), "",
        fmt::format("{} YAML documents (separated by ---); skiff.yaml holds exactly one",
                    documents.size()),
        "merge them into one, or remove the --- line");
    result.diagnostics = diagnostics.all();
    return result;
  }
  const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
  Spec spec = SpecParser(diagnostics).parse(root);
  result.diagnostics = diagnostics.all();
  // In file order, as a compiler reports them.
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  if (diagnostics.empty()) result.spec = std::move(spec);
  return result;
}

static uint64_t maxSpecBytes() {
  if (const char* value = std::getenv("SKIFF_MAX_SPEC_SIZE"); value && *value) {
    if (const auto bytes = parseByteSize(value)) return *bytes;
  }
  return kDefaultMaxSpecBytes;
}

ParseResult loadProject(const std::filesystem::path& projectDir) {
  const std::filesystem::path file = (projectDir / kSpecFileName).lexically_normal();
  std::string text;
  try {
    if (!std::filesystem::exists(file)) throw Error("no such file");
    text = readBoundedFile(file, maxSpecBytes(),
                           "a skiff.yaml is a few KiB: keep data in files or storage; "
                           "SKIFF_MAX_SPEC_SIZE=8Mi raises the limit");
  } catch (const Error& e) {
    ParseResult result;
    Diagnostic problem;
    problem.file = file.string();
    problem.line = 1;
    problem.column = 1;
    problem.problem = e.problem();
    problem.expected = !e.hint().empty() ? e.hint()
                       : std::filesystem::is_directory(projectDir)
                           ? "create it; see docs/skiff-yaml.md"
                           : "give a project directory that contains skiff.yaml";
    result.diagnostics.push_back(problem);
    return result;
  }
  return parseSpec(text, file.string());
}

}  // namespace skiff::spec
