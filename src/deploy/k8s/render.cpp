#include "deploy/k8s/render.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "csi/node_plugin.hpp"
#include "deploy/serve_command.hpp"
#include "image/build.hpp"
#include "image/credentials.hpp"

namespace skiff::deploy::k8s {

using nlohmann::json;

namespace {

namespace fs = std::filesystem;

constexpr const char* kRedacted = "<redacted>";
// The notebook's file browser root (an emptyDir) and its volume's name.
const std::string kNotebookRoot = "/notebook";
constexpr const char* kNotebookRootVolume = "notebook-root";
// A serve Deployment's file:// model repository, beside its storage volumes.
constexpr const char* kModelRepositoryVolume = "skiff-model-repository";
// Keys the Azure Blob and File CSI drivers read from a volume's secret.
constexpr const char* kCsiAccountKey = "azurestorageaccountname";
constexpr const char* kCsiKeyKey = "azurestorageaccountkey";

std::string sha256Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// "az://account/container/some/prefix" -> {"account", "container", "some/prefix"}.
struct AzureLocation {
  std::string account;
  std::string container;
  std::string prefix;
};

AzureLocation parseAzureUri(const std::string& uri) {
  const auto rest = uri.substr(uri.find("://") + 3);
  AzureLocation location;
  const auto slash = rest.find('/');
  location.account = rest.substr(0, slash);
  if (slash == std::string::npos) return location;
  const auto next = rest.find('/', slash + 1);
  location.container = rest.substr(slash + 1, next == std::string::npos ? next : next - slash - 1);
  if (next != std::string::npos) location.prefix = rest.substr(next + 1);
  while (!location.prefix.empty() && location.prefix.back() == '/') location.prefix.pop_back();
  return location;
}

bool startsWith(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

bool usesSkiffDriver(const spec::Storage& storage) {
  return storage.kind == spec::StorageKind::kBlob && startsWith(storage.uri, "az://") &&
         storage.driver == spec::BlobDriver::kSkiff;
}

class Renderer {
 public:
  Renderer(const spec::Spec& spec, Images images) : spec_(spec), images_(std::move(images)) {}

  std::string objectName(const std::string& entry) const { return k8s::objectName(spec_, entry); }

  std::string secretName(const std::string& entry) const {
    const auto found = spec_.secrets.find(entry);
    return found != spec_.secrets.end() && found->second.existing ? entry : objectName(entry);
  }

  json labels(const std::string& entry, const std::string& component) const {
    json result = {{kNameLabel, spec_.name}, {kManagedByLabel, "skiff"}, {kEntryLabel, entry}};
    if (!component.empty()) result[kComponentLabel] = component;
    return result;
  }

  // What a Deployment or Service selects its pods by: never the release id,
  // since a selector cannot change.
  json selector(const std::string& entry) const {
    return {{kNameLabel, spec_.name}, {kEntryLabel, entry}};
  }

  json metadata(const std::string& name, const std::string& entry,
                const std::string& component) const {
    return {{"name", name}, {"labels", labels(entry, component)}};
  }

  json secret(const std::string& entry, const std::map<std::string, std::string>& values,
              bool redactValues) const {
    std::map<std::string, std::string> data = values;
    // A storage's secret also carries the keys the CSI drivers read.
    if (values.count("AZURE_STORAGE_ACCOUNT") && values.count("AZURE_STORAGE_KEY") &&
        usedByAzureStorage(entry)) {
      data[kCsiAccountKey] = values.at("AZURE_STORAGE_ACCOUNT");
      data[kCsiKeyKey] = values.at("AZURE_STORAGE_KEY");
    }
    json encoded = json::object();
    for (const auto& [key, value] : data) {
      // Redacted values are still base64 (of "<redacted>"), so rendered
      // output stays a valid object: `kubectl apply --dry-run=server` takes it.
      encoded[key] = image::base64Encode(redactValues ? std::string(kRedacted) : value);
    }
    return {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", metadata(objectName(entry), "secrets." + entry, "")},
            {"type", "Opaque"},
            {"data", encoded}};
  }

  json volume(const spec::Storage& storage) const {
    json volume = {{"name", storage.name}};
    const bool hostPath = storage.kind == spec::StorageKind::kHostPath;
    if (hostPath || startsWith(storage.uri, "file://")) {
      // The embedded store's directory (file://) is a directory of the node too.
      const std::string path = hostPath ? storage.path : storage.uri.substr(7);
      volume["hostPath"] = {{"path", path}, {"type", "DirectoryOrCreate"}};
      return volume;
    }
    if (usesSkiffDriver(storage)) {
      volume["csi"] = skiffCsiVolume(storage);
      return volume;
    }
    const AzureLocation location = parseAzureUri(storage.uri);
    json attributes = json::object();
    if (!storage.secret.empty()) attributes["secretName"] = secretName(storage.secret);
    if (storage.kind == spec::StorageKind::kFileShare) {
      attributes["shareName"] = location.container;
      volume["csi"] = {{"driver", "file.csi.azure.com"}};
    } else {
      attributes["containerName"] = location.container;
      attributes["storageAccount"] = location.account;
      attributes["mountOptions"] = fmt::format("-o allow_other --file-cache-timeout-in-seconds={}",
                                               static_cast<long>(storage.cacheTimeoutSeconds));
      volume["csi"] = {{"driver", "blob.csi.azure.com"}};
    }
    volume["csi"]["volumeAttributes"] = attributes;
    if (storage.readOnly) volume["csi"]["readOnly"] = true;
    return volume;
  }

  // skiff's own driver mounts the URI, prefix and all (no subPath), with the
  // storage's Secret handed to it by kubelet (nodePublishSecretRef): the
  // driver needs no API access of its own.
  json skiffCsiVolume(const spec::Storage& storage) const {
    const json attributes = {
        {"uri", storage.uri},
        {"cacheTimeout", std::to_string(static_cast<long>(storage.cacheTimeoutSeconds))}};
    json csi = {{"driver", csi::kDriverName}, {"volumeAttributes", attributes}};
    if (storage.readOnly) csi["readOnly"] = true;
    if (!storage.secret.empty()) {
      csi["nodePublishSecretRef"] = {{"name", secretName(storage.secret)}};
    }
    return csi;
  }

  json volumeMount(const spec::Storage& storage) const {
    json mount = {{"name", storage.name}, {"mountPath", storage.mountPath}};
    if (storage.readOnly) mount["readOnly"] = true;
    // A prefix of the container (or a share's folder) is a subPath of its volume.
    if (storage.kind != spec::StorageKind::kHostPath && startsWith(storage.uri, "az") &&
        !usesSkiffDriver(storage)) {
      const auto prefix = parseAzureUri(storage.uri).prefix;
      if (!prefix.empty()) mount["subPath"] = prefix;
    }
    return mount;
  }

  json volumes(const spec::Workload& workload) const {
    json result = json::array();
    for (const auto& name : sortedMounts(workload)) result.push_back(volume(storage(name)));
    return result;
  }

  json container(const spec::Workload& workload, const std::string& name,
                 const spec::Resources& resources) const {
    json container = {{"name", name}, {"image", images_.project}};
    if (!workload.command.empty()) container["command"] = workload.command;
    if (!workload.workingDir.empty()) container["workingDir"] = workload.workingDir;
    addEnvironment(container, workload);
    json mounts = json::array();
    for (const auto& mount : sortedMounts(workload)) mounts.push_back(volumeMount(storage(mount)));
    if (!mounts.empty()) container["volumeMounts"] = mounts;
    const json limits = resourceList(resources, true);
    const json requests = resourceList(resources, false);
    if (!limits.empty() || !requests.empty()) container["resources"] = json::object();
    if (!limits.empty()) container["resources"]["limits"] = limits;
    if (!requests.empty()) container["resources"]["requests"] = requests;
    return container;
  }

  // env and envFrom of a workload: its env map with what the local target
  // also sets (SKIFF_PROJECT, SKIFF_NAME, SKIFF_REPLICA: the pod's name), then its secrets.
  void addEnvironment(json& target, const spec::Workload& workload) const {
    auto variables = workload.env;
    variables.emplace("SKIFF_PROJECT", spec_.name);
    variables.emplace("SKIFF_NAME", workload.name);
    json env = json::array();
    for (const auto& [name, value] : variables) env.push_back({{"name", name}, {"value", value}});
    if (!workload.env.count("SKIFF_REPLICA")) {
      env.push_back({{"name", "SKIFF_REPLICA"},
                     {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}});
    }
    if (!env.empty()) target["env"] = env;
    json envFrom = json::array();
    for (const auto& secret : workload.secrets) {
      envFrom.push_back({{"secretRef", {{"name", secretName(secret)}}}});
    }
    if (!envFrom.empty()) target["envFrom"] = envFrom;
  }

  json podTemplate(const spec::Workload& workload, const std::string& entry,
                   const std::string& containerName, const spec::Resources& resources,
                   const std::string& restartPolicy, json extraContainerFields = {}) const {
    json container = this->container(workload, containerName, resources);
    if (!extraContainerFields.is_null()) container.update(extraContainerFields);
    json podSpec = {{"containers", json::array({container})}};
    if (!restartPolicy.empty()) podSpec["restartPolicy"] = restartPolicy;
    const json podVolumes = volumes(workload);
    if (!podVolumes.empty()) podSpec["volumes"] = podVolumes;
    return {{"metadata", {{"labels", labels(entry, workload.name)}}}, {"spec", podSpec}};
  }

  json batchJob(const spec::Job& job) const {
    const std::string entry = "jobs." + job.name;
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", metadata(objectName(job.name), entry, job.name)},
            {"spec",
             {{"backoffLimit", job.backoffLimit},
              {"template", podTemplate(job, entry, job.name, job.resources, job.restartPolicy)}}}};
  }

  // TFJob and PyTorchJob: one replica spec per role; the operators find the
  // training container by its fixed name.
  json kubeflowJob(const spec::Job& job, const char* kind, const char* replicaSpecsField,
                   const char* containerName) const {
    const std::string entry = "jobs." + job.name;
    json replicaSpecs = json::object();
    for (const auto& [role, replica] : job.replicas) {
      std::string roleName = role == "ps" ? "PS" : role;
      roleName[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(roleName[0])));
      replicaSpecs[roleName] = {
          {"replicas", replica.count},
          {"restartPolicy", job.restartPolicy},
          {"template",
           podTemplate(job, entry, containerName, replica.resources.value_or(job.resources), "")}};
    }
    return {{"apiVersion", "kubeflow.org/v1"},
            {"kind", kind},
            {"metadata", metadata(objectName(job.name), entry, job.name)},
            {"spec",
             {{"runPolicy", {{"backoffLimit", job.backoffLimit}, {"cleanPodPolicy", "None"}}},
              {replicaSpecsField, replicaSpecs}}}};
  }

  json sparkApplication(const spec::Job& job) const {
    const std::string entry = "jobs." + job.name;
    const spec::SparkSettings spark = job.spark.value_or(spec::SparkSettings{});
    auto role = [&](int cores, const std::string& memory) {
      json pod = {{"cores", cores}, {"memory", memory}, {"labels", labels(entry, job.name)}};
      addEnvironment(pod, job);
      json mounts = json::array();
      for (const auto& mount : sortedMounts(job)) mounts.push_back(volumeMount(storage(mount)));
      if (!mounts.empty()) pod["volumeMounts"] = mounts;
      return pod;
    };
    json executor = role(spark.executorCores, spark.executorMemory);
    executor["instances"] = spark.executorInstances;
    if (job.resources.gpu > 0) {
      executor["gpu"] = {{"name", "nvidia.com/gpu"}, {"quantity", job.resources.gpu}};
    }
    json restart = {{"type", job.restartPolicy}};
    if (job.restartPolicy == "OnFailure") restart["onFailureRetries"] = job.backoffLimit;
    json specification = {{"type", spark.type},
                          {"mode", "cluster"},
                          {"image", images_.project},
                          {"mainApplicationFile", spark.mainApplicationFile},
                          {"sparkVersion", spark.sparkVersion},
                          {"restartPolicy", restart},
                          {"driver", role(spark.driverCores, spark.driverMemory)},
                          {"executor", executor}};
    if (!spark.mainClass.empty()) specification["mainClass"] = spark.mainClass;
    if (!spark.arguments.empty()) specification["arguments"] = spark.arguments;
    const json sparkVolumes = volumes(job);
    if (!sparkVolumes.empty()) specification["volumes"] = sparkVolumes;
    return {{"apiVersion", "sparkoperator.k8s.io/v1beta2"},
            {"kind", "SparkApplication"},
            {"metadata", metadata(objectName(job.name), entry, job.name)},
            {"spec", specification}};
  }

  json job(const spec::Job& job) const {
    switch (job.kind) {
      case spec::JobKind::kTFJob:
        return kubeflowJob(job, "TFJob", "tfReplicaSpecs", "tensorflow");
      case spec::JobKind::kPyTorchJob:
        return kubeflowJob(job, "PyTorchJob", "pytorchReplicaSpecs", "pytorch");
      case spec::JobKind::kSpark:
        return sparkApplication(job);
      case spec::JobKind::kJob:
        break;
    }
    return batchJob(job);
  }

  // A port the container listens on, by name, and the Service forwards.
  struct NamedPort {
    std::string name;
    int port = 0;
  };

  // A Deployment and its Service: services, `skiff serve` and the notebook.
  std::vector<json> deployment(const spec::Workload& workload, const std::string& entry,
                               const std::vector<NamedPort>& ports, int replicas,
                               json extraContainerFields) const {
    const std::string name = objectName(workload.name);
    json containerPorts = json::array();
    json servicePorts = json::array();
    for (const NamedPort& port : ports) {
      containerPorts.push_back({{"name", port.name}, {"containerPort", port.port}});
      servicePorts.push_back({{"name", port.name},
                              {"port", port.port},
                              {"targetPort", port.name},
                              {"protocol", "TCP"}});
    }
    extraContainerFields["ports"] = containerPorts;
    const json deployment = {
        {"apiVersion", "apps/v1"},
        {"kind", "Deployment"},
        {"metadata", metadata(name, entry, workload.name)},
        {"spec",
         {{"replicas", replicas},
          {"selector", {{"matchLabels", selector(entry)}}},
          {"template", podTemplate(workload, entry, workload.name, workload.resources, "",
                                   extraContainerFields)}}}};
    const json service = {{"apiVersion", "v1"},
                          {"kind", "Service"},
                          {"metadata", metadata(name, entry, workload.name)},
                          {"spec", {{"selector", selector(entry)}, {"ports", servicePorts}}}};
    return {deployment, service};
  }

  std::vector<json> service(const spec::Service& service) const {
    json extra = json::object();
    if (!service.image.empty()) extra["image"] = service.image;
    if (service.kind == spec::ServiceKind::kServe) {
      // The project's image need not hold skiff: serve runs in skiff's own.
      if (service.image.empty()) {
        if (images_.serve.empty()) {
          throw Error(fmt::format("service '{}' serves models, and the build record has no serve "
                                  "image to run it in",
                                  service.name),
                      "skiff.yaml: services." + service.name,
                      "run `skiff build`, which builds it, or set services." + service.name +
                          ".image to an image that holds skiff");
        }
        extra["image"] = images_.serve;
      }
      extra["command"] = serveCommand(service, "skiff", "0.0.0.0");
      extra["readinessProbe"] = {{"httpGet", {{"path", kServeReadyPath}, {"port", "http"}}},
                                 {"periodSeconds", 5}};
    }
    spec::Service workload = service;
    // Like the local target: a plain service learns its port from PORT.
    if (service.kind == spec::ServiceKind::kService) {
      workload.env.emplace("PORT", std::to_string(service.port));
    }
    std::vector<NamedPort> ports = {{"http", service.port}};
    if (service.grpcPort != 0) ports.push_back({"grpc", service.grpcPort});  // KServe v2 gRPC
    auto objects = deployment(workload, "services." + service.name, ports, service.replicas, extra);
    if (service.kind == spec::ServiceKind::kServe &&
        startsWith(service.modelRepository, "file://")) {
      // The embedded store's directory is the node's: the server reads it
      // at the same path, read-only, as the job that wrote it saw it. Jobs
      // write there as their image's user (root, most often) with whatever
      // modes they chose (a temporary file renamed into place is 0600), so
      // the server reads as root too, not as the serve image's own user.
      const std::string path = service.modelRepository.substr(7);
      json& pod = objects[0]["spec"]["template"]["spec"];
      pod["containers"][0]["securityContext"] = {{"runAsUser", 0}, {"runAsGroup", 0}};
      pod["volumes"].push_back({{"name", kModelRepositoryVolume},
                                {"hostPath", {{"path", path}, {"type", "DirectoryOrCreate"}}}});
      pod["containers"][0]["volumeMounts"].push_back(
          {{"name", kModelRepositoryVolume}, {"mountPath", path}, {"readOnly", true}});
    }
    return objects;
  }

  // Jupyter's file browser shows the project and its storage side by side,
  // as on the local target: its root is an emptyDir holding a link to the
  // project (the image's working directory) under the project's name and each
  // mount again at its mountPath (read-only ones read-only); it opens in the
  // project. Kernels still see the mounts at their mountPath, as jobs do. A
  // notebook with its own command is left as written.
  std::vector<json> notebook(const spec::Notebook& notebook) const {
    spec::Notebook named = notebook;
    named.name = "notebook";
    if (!notebook.command.empty()) {
      return deployment(named, "notebook", {{"http", notebook.port}}, 1, {});
    }

    std::set<std::string> taken;
    for (const auto& mount : sortedMounts(notebook)) {
      const fs::path inRoot = fs::path(storage(mount).mountPath).relative_path();
      if (!inRoot.empty()) taken.insert(inRoot.begin()->string());
    }
    std::string projectEntry = spec_.name;
    while (taken.count(projectEntry)) projectEntry += "-project";
    const std::string link = kNotebookRoot + "/" + projectEntry;
    json extra = {{"command",
                   {"sh", "-c", "ln -sfn \"$PWD\" \"$0\" && exec \"$@\"", link,
                    image::kJupyterProgram, "--ip=0.0.0.0", fmt::format("--port={}", notebook.port),
                    "--port-retries=0", "--no-browser",
                    "--allow-root",  // images built FROM python run as root; the pod isolates
                    fmt::format("--notebook-dir={}", kNotebookRoot),
                    fmt::format("--NotebookApp.default_url=/tree/{}", projectEntry)}}};
    named.env.emplace("JUPYTER_RUNTIME_DIR", "/tmp/jupyter-runtime");  // a home may be read-only
    // The project's image need not hold Jupyter: the notebook runs the one
    // `skiff build` made FROM it (a build record from before has none).
    if (!images_.notebook.empty()) extra["image"] = images_.notebook;
    auto objects = deployment(named, "notebook", {{"http", notebook.port}}, 1, extra);
    json& pod = objects[0]["spec"]["template"]["spec"];
    pod["volumes"].push_back({{"name", kNotebookRootVolume}, {"emptyDir", json::object()}});
    json& mounts = pod["containers"][0]["volumeMounts"];
    mounts.push_back({{"name", kNotebookRootVolume}, {"mountPath", kNotebookRoot}});
    for (const auto& mount : sortedMounts(notebook)) {
      json again = volumeMount(storage(mount));
      const std::string mountPath = again["mountPath"];
      if (mountPath == "/") continue;  // the root itself: nothing to show beside the project
      again["mountPath"] = kNotebookRoot + mountPath;
      mounts.push_back(again);
    }
    return objects;
  }

 private:
  const spec::Storage& storage(const std::string& name) const { return spec_.storage.at(name); }

  static std::vector<std::string> sortedMounts(const spec::Workload& workload) {
    auto mounts = workload.mounts;
    std::sort(mounts.begin(), mounts.end());
    return mounts;
  }

  bool usedByAzureStorage(const std::string& secretEntry) const {
    return std::any_of(spec_.storage.begin(), spec_.storage.end(), [&](const auto& entry) {
      return entry.second.secret == secretEntry && startsWith(entry.second.uri, "az");
    });
  }

  // GPUs are limits only (the scheduler counts them there); memory is
  // limited at its request so a pod is never killed for what it asked for.
  static json resourceList(const spec::Resources& resources, bool limits) {
    json list = json::object();
    if (!resources.cpu.empty() && !limits) list["cpu"] = resources.cpu;
    if (!resources.memory.empty()) list["memory"] = resources.memory;
    if (resources.gpu > 0 && limits) list["nvidia.com/gpu"] = std::to_string(resources.gpu);
    return list;
  }

  const spec::Spec& spec_;
  Images images_;
};

int kindRank(const std::string& kind) {
  const auto& kinds = releaseKinds();
  return static_cast<int>(
      std::find_if(kinds.begin(), kinds.end(), [&](const KindOf& k) { return kind == k.kind; }) -
      kinds.begin());
}

// YAML 1.1 readers take these plain scalars for numbers, booleans or null.
bool needsQuotes(const std::string& text) {
  if (text.empty()) return true;
  static const std::vector<std::string> words = {"true", "false", "yes", "no",   "on",
                                                 "off",  "y",     "n",   "null", "~"};
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(words.begin(), words.end(), lower) != words.end()) return true;
  return text.find_first_not_of("0123456789.:_+-eExXabcdefABCDEF") == std::string::npos &&
         text.find_first_of("0123456789") != std::string::npos;
}

void emitYaml(YAML::Emitter& out, const json& value) {
  if (value.is_object()) {
    if (value.empty()) out << YAML::Flow;
    out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      emitYaml(out, item);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    if (value.empty()) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& item : value) emitYaml(out, item);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (needsQuotes(text)) out << YAML::DoubleQuoted;
    out << text;
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_number_integer()) {
    out << value.get<int64_t>();
  } else if (value.is_number()) {
    out << value.get<double>();
  } else {
    out << YAML::Null;
  }
}

}  // namespace

Release renderRelease(const spec::Spec& spec, const Images& images, const SecretValues& secrets,
                      bool redactSecrets) {
  const Renderer renderer(spec, images);
  std::vector<json> objects;
  std::vector<json> redacted;  // what the release id hashes: never a secret value
  for (const auto& [name, values] : secrets) {
    objects.push_back(renderer.secret(name, values, redactSecrets));
    redacted.push_back(renderer.secret(name, values, true));
  }
  std::vector<json> workloads;
  for (const auto& [name, job] : spec.jobs) workloads.push_back(renderer.job(job));
  for (const auto& [name, service] : spec.services) {
    for (auto& object : renderer.service(service)) workloads.push_back(std::move(object));
  }
  if (spec.notebook) {
    for (auto& object : renderer.notebook(*spec.notebook)) workloads.push_back(std::move(object));
  }
  objects.insert(objects.end(), workloads.begin(), workloads.end());
  redacted.insert(redacted.end(), workloads.begin(), workloads.end());

  auto byApplyOrder = [](const json& a, const json& b) {
    const int rankA = kindRank(a["kind"]);
    const int rankB = kindRank(b["kind"]);
    if (rankA != rankB) return rankA < rankB;
    return a["metadata"]["name"] < b["metadata"]["name"];
  };
  std::sort(objects.begin(), objects.end(), byApplyOrder);
  std::sort(redacted.begin(), redacted.end(), byApplyOrder);

  for (auto& object : objects) {
    if (runsToCompletion(object["kind"])) {
      object["metadata"]["annotations"][kSpecHashAnnotation] =
          sha256Hex(object["spec"].dump()).substr(0, 12);
    }
  }
  Release release;
  // The serve image counts through the Deployments that run it, if any.
  release.id = sha256Hex(json(redacted).dump() + "\n" + images.project).substr(0, 12);
  for (auto& object : objects) object["metadata"]["labels"][kReleaseLabel] = release.id;
  release.objects = std::move(objects);
  return release;
}

const std::vector<KindOf>& releaseKinds() {
  static const std::vector<KindOf> kinds = {{"v1", "Secret"},
                                            {"v1", "Service"},
                                            {"apps/v1", "Deployment"},
                                            {"batch/v1", "Job"},
                                            {"kubeflow.org/v1", "TFJob"},
                                            {"kubeflow.org/v1", "PyTorchJob"},
                                            {"sparkoperator.k8s.io/v1beta2", "SparkApplication"}};
  return kinds;
}

bool runsToCompletion(const std::string& kind) {
  return kind == "Job" || kind == "TFJob" || kind == "PyTorchJob" || kind == "SparkApplication";
}

std::string objectName(const spec::Spec& spec, const std::string& entryName) {
  const std::string name = spec.name + "-" + entryName;
  if (name.size() > 63) {
    throw Error(fmt::format("the object name \"{}\" is longer than 63 characters", name),
                "skiff.yaml: " + entryName, "shorten the project name or the entry's name");
  }
  return name;
}

Images builtImages(const std::filesystem::path& projectDir) {
  const auto file = image::recordPath(projectDir);
  std::ifstream in(file);
  if (!in) {
    throw Error("the project has no built image", file.string(),
                "run `skiff build` first: a release deploys the image it recorded");
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto record = image::BuildRecord::fromJson(text.str());
  if (!record) {
    throw Error("the build record is not valid", file.string(), "run `skiff build` again");
  }
  return {record->reference(), record->serveImage, record->notebookImage};
}

std::string toYaml(const std::vector<Object>& objects) {
  std::string text;
  for (const auto& object : objects) {
    YAML::Emitter out;
    emitYaml(out, object);
    text += "---\n";
    text += out.c_str();
    text += "\n";
  }
  return text;
}

std::string toJsonList(const std::vector<Object>& objects) {
  const json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", objects}};
  return list.dump(2) + "\n";
}

std::string appSelector(const std::string& appName) {
  return fmt::format("{}={},{}=skiff", kNameLabel, appName, kManagedByLabel);
}

}  // namespace skiff::deploy::k8s
