#include "deploy/local/plan.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/subprocess.hpp"
#include "deploy/local/sandbox.hpp"
#include "deploy/serve_command.hpp"

namespace skiff::deploy::local {

namespace fs = std::filesystem;

namespace {

std::string randomToken() {
  std::random_device random;
  return fmt::format("{:08x}{:08x}{:08x}", random(), random(), random());
}

// Storage credentials of the releasing shell, for a mount or model server of
// az:// storage without a secret of its own. They travel in the plan, over
// the supervisor's private socket as secrets do, so the supervisor keeps
// none of the shell's environment (local_target.cpp).
std::map<std::string, std::string> azureEnvironment() {
  std::map<std::string, std::string> env;
  for (const char* name :
       {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_BLOB_ENDPOINT", "SKIFF_AZURE_CREDENTIALS_FILE"}) {
    if (const char* value = std::getenv(name); value && *value) env[name] = value;
  }
  return env;
}

bool isAzureUri(const std::string& uri) {
  return uri.rfind("az://", 0) == 0;
}

// Builds the plan of one spec, unit by unit.
class Planner {
 public:
  Planner(const spec::Spec& spec, const fs::path& projectDir, const SecretValues& secrets,
          const PlanOptions& options)
      : spec_(spec),
        projectDir_(fs::absolute(projectDir).lexically_normal()),
        secrets_(secrets),
        options_(options) {
    sandbox_ = options.sandbox ? findProgram("bwrap").value_or("").string() : "";
    if (options.sandbox && sandbox_.empty()) {
      plan_.warnings.push_back(
          "bubblewrap (bwrap) is not installed: jobs and services run as plain processes, and "
          "storage appears at DIR/.skiff/mounts/NAME (in $SKIFF_MOUNT_NAME) instead of its "
          "mountPath; install Debian's bubblewrap for the sandbox");
    }
  }

  LocalPlan plan() {
    plan_.projectDir = projectDir_;
    plan_.keepRuns = keepRunsSetting();
    recordProvenance();
    plan_.gpus = options_.gpus;
    for (const auto& [name, storage] : spec_.storage) addMount(name, storage);
    for (const auto& [name, job] : spec_.jobs) addJob(job);
    for (const auto& [name, service] : spec_.services) addService(service);
    if (spec_.notebook) addNotebook(*spec_.notebook);
    for (const auto& [name, keys] : secrets_) {
      for (const auto& [key, value] : keys) plan_.secretValues.push_back(value);
    }
    return std::move(plan_);
  }

 private:
  void addMount(const std::string& name, const spec::Storage& storage) {
    MountPlan mount;
    mount.name = name;
    mount.mountPath = storage.mountPath;
    mount.readOnly = storage.readOnly;
    mount.cacheTimeoutSeconds = storage.cacheTimeoutSeconds;
    if (storage.kind == spec::StorageKind::kHostPath) {
      mount.mountpoint = storage.path;  // bound as it is, no FUSE
    } else if (storage.kind == spec::StorageKind::kFileShare) {
      mount.uri = storage.uri;  // refused when a unit uses it: see unitMounts
    } else {
      mount.uri = storage.uri;
      mount.mountpoint = projectDir_ / ".skiff" / "mounts" / name;
      if (!storage.secret.empty() && secrets_.count(storage.secret)) {
        mount.env = secrets_.at(storage.secret);
      } else if (isAzureUri(storage.uri)) {
        mount.env = azureEnvironment();
      }
      mount.argv = {options_.skiffExe,
                    "mount",
                    storage.uri,
                    mount.mountpoint,
                    "--foreground",
                    "--cache-timeout",
                    fmt::format("{}", storage.cacheTimeoutSeconds),
                    "--cache-dir",
                    projectDir_ / ".skiff" / "cache" / name};
      if (storage.readOnly) mount.argv.push_back("--read-only");
    }
    plan_.mounts.push_back(std::move(mount));
  }

  // What every run of this release was made from: the image the last
  // `skiff build` recorded and the project's git commit.
  void recordProvenance() {
    if (spec_.image) provenance_["image"] = spec_.image->repository;
    std::ifstream build(projectDir_ / ".skiff" / "build.json");
    const auto record = nlohmann::json::parse(build, nullptr, false);
    if (record.is_object()) {
      if (!record.value("digest", "").empty()) provenance_["imageDigest"] = record["digest"];
      if (!record.value("repository", "").empty()) provenance_["image"] = record["repository"];
    }
    SpawnOptions quiet;
    quiet.workingDir = projectDir_;
    try {
      const auto git = runCommand({"git", "rev-parse", "HEAD"}, quiet);
      if (git.exitCode == 0 && git.out.size() >= 40)
        provenance_["gitCommit"] = git.out.substr(0, 40);
      const auto dirty =
          runCommand({"git", "status", "--porcelain", "--untracked-files=no"}, quiet);
      if (git.exitCode == 0 && dirty.exitCode == 0) provenance_["gitDirty"] = !dirty.out.empty();
    } catch (const Error&) {
      // No git here: the history goes without a commit.
    }
  }

  // The run history's parameters of a workload: names, never values.
  nlohmann::json paramsOf(const spec::Workload& workload,
                          const std::vector<std::string>& command) const {
    nlohmann::json params = provenance_;
    // A command may spell a secret's value out: the history never keeps one.
    std::vector<std::string> shown;
    for (const auto& word : command) shown.push_back(redact(word, secrets_));
    params["command"] = shown;
    std::vector<std::string> env;
    for (const auto& [key, value] : workload.env) env.push_back(key);
    for (const auto& secret : workload.secrets) {
      if (const auto found = secrets_.find(secret); found != secrets_.end()) {
        for (const auto& [key, value] : found->second) env.push_back(key);
      }
    }
    params["env"] = env;
    params["secrets"] = workload.secrets;
    params["mounts"] = workload.mounts;
    if (!workload.workingDir.empty()) params["workingDir"] = workload.workingDir;
    return params;
  }

  // Environment every process of a workload gets: its env, its secrets as
  // variables, and where it runs.
  std::map<std::string, std::string> baseEnv(const spec::Workload& workload,
                                             const std::string& replica) const {
    std::map<std::string, std::string> env = workload.env;
    for (const auto& secret : workload.secrets) {
      if (const auto found = secrets_.find(secret); found != secrets_.end()) {
        for (const auto& [key, value] : found->second) env[key] = value;
      }
    }
    env["SKIFF_PROJECT"] = spec_.name;
    env["SKIFF_NAME"] = workload.name;
    env["SKIFF_REPLICA"] = replica;
    if (sandbox_.empty()) {
      for (const MountPlan* mount : mountsNamed(plan_, workload.mounts)) {
        std::string variable = "SKIFF_MOUNT_" + mount->name;
        for (char& c : variable)
          c = std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(c) : '_';
        env[variable] = mount->mountpoint;
      }
    }
    return env;
  }

  std::string workingDir(const spec::Workload& workload) const {
    if (workload.workingDir.empty()) return projectDir_;
    const fs::path dir(workload.workingDir);
    return dir.is_absolute() ? dir.string() : (projectDir_ / dir).string();
  }

  // The command as it runs: inside bubblewrap with the unit's mounts, or plain.
  std::vector<std::string> sandboxed(const std::vector<std::string>& command, const UnitPlan& unit,
                                     const std::string& dir,
                                     const std::vector<SandboxBind>& extraBinds = {}) const {
    if (sandbox_.empty()) return command;
    SandboxSpec sandbox;
    sandbox.bwrap = sandbox_;
    sandbox.projectDir = projectDir_;
    sandbox.workingDir = dir;
    for (const MountPlan* mount : mountsNamed(plan_, unit.mounts)) {
      sandbox.binds.push_back({mount->mountpoint, mount->mountPath, mount->readOnly});
    }
    sandbox.binds.insert(sandbox.binds.end(), extraBinds.begin(), extraBinds.end());
    return sandboxCommand(sandbox, command);
  }

  UnitPlan unitFor(const spec::Workload& workload, const std::string& kind) {
    UnitPlan unit;
    unit.name = workload.name;
    unit.kind = kind;
    for (const auto& name : workload.mounts) {
      const auto& storage = spec_.storage.at(name);
      if (storage.kind == spec::StorageKind::kFileShare) {
        unit.error = fmt::format(
            "storage \"{}\" is a file share ({}), which the local target cannot mount; use a "
            "blob or hostPath entry for local runs, or release with --target k8s",
            name, storage.uri);
      }
      unit.mounts.push_back(name);
    }
    if (const int asked = workload.resources.gpu; asked > 0) {
      const auto gpus = listGpus(options_.gpus.deviceDir);
      if (static_cast<int>(gpus.size()) < asked) {
        unit.error = fmt::format(
            "{} asks for {} GPU{} (resources.gpu), and this machine has {} ({}/nvidia0, ...){}: "
            "lower resources.gpu, run it where there are GPUs, or release with --target k8s",
            workload.name, asked, asked == 1 ? "" : "s", gpus.size(), options_.gpus.deviceDir,
            gpus.empty() ? ", or its NVIDIA driver is not loaded" : "");
      }
    }
    return unit;
  }

  void addProcess(UnitPlan& unit, const spec::Workload& workload, const std::string& replica,
                  const std::vector<std::string>& command,
                  std::map<std::string, std::string> extraEnv = {},
                  const std::vector<SandboxBind>& extraBinds = {}) {
    ProcessPlan process;
    process.replica = replica;
    const std::string dir = workingDir(workload);
    process.workingDir = sandbox_.empty() ? dir : "";  // bubblewrap changes into it itself
    process.env = baseEnv(workload, replica);
    for (auto& [key, value] : extraEnv) process.env[key] = std::move(value);
    process.argv = sandboxed(command, unit, dir, extraBinds);
    process.gpus = workload.resources.gpu;
    process.sandboxed = !sandbox_.empty();
    unit.processes.push_back(std::move(process));
  }

  void addJob(const spec::Job& job) {
    UnitPlan unit = unitFor(job, spec::toString(job.kind));
    unit.backoffLimit = job.backoffLimit;
    unit.params = paramsOf(job, job.command);
    unit.params["backoffLimit"] = job.backoffLimit;
    switch (job.kind) {
      case spec::JobKind::kJob:
        addProcess(unit, job, "main", job.command);
        unit.successReplica = "main";
        break;
      case spec::JobKind::kTFJob:
        addTFJobProcesses(unit, job);
        break;
      case spec::JobKind::kPyTorchJob:
        addPyTorchJobProcesses(unit, job);
        break;
      case spec::JobKind::kSpark:
        addSparkProcess(unit, job);
        break;
    }
    plan_.units.push_back(std::move(unit));
  }

  // One process per replica with the TF_CONFIG the Kubeflow operator gives:
  // the whole cluster on loopback ports, and this replica's task.
  void addTFJobProcesses(UnitPlan& unit, const spec::Job& job) {
    nlohmann::json cluster = nlohmann::json::object();
    for (const auto& [role, replica] : job.replicas) {
      for (int i = 0; i < replica.count; ++i) {
        cluster[role].push_back(fmt::format("127.0.0.1:{}", freeLoopbackPort()));
      }
    }
    for (const auto& [role, replica] : job.replicas) {
      for (int i = 0; i < replica.count; ++i) {
        const nlohmann::json config = {{"cluster", cluster},
                                       {"task", {{"type", role}, {"index", i}}},
                                       {"environment", "cloud"}};
        addProcess(unit, job, fmt::format("{}-{}", role, i), job.command,
                   {{"TF_CONFIG", config.dump()}});
      }
    }
    // The operator's rule: the chief decides; without one, worker 0 does.
    unit.successReplica = job.replicas.count("chief") ? "chief-0" : "worker-0";
  }

  // Master and workers with the torch.distributed environment.
  void addPyTorchJobProcesses(UnitPlan& unit, const spec::Job& job) {
    const int masterPort = freeLoopbackPort();
    int worldSize = 0;
    for (const auto& [role, replica] : job.replicas) worldSize += replica.count;
    int rank = 0;
    for (const std::string role : {"master", "worker"}) {
      const auto found = job.replicas.find(role);
      if (found == job.replicas.end()) continue;
      for (int i = 0; i < found->second.count; ++i, ++rank) {
        addProcess(unit, job, fmt::format("{}-{}", role, i), job.command,
                   {{"MASTER_ADDR", "127.0.0.1"},
                    {"MASTER_PORT", std::to_string(masterPort)},
                    {"WORLD_SIZE", std::to_string(worldSize)},
                    {"RANK", std::to_string(rank)}});
      }
    }
    unit.successReplica = job.replicas.count("master") ? "master-0" : "worker-0";
  }

  void addSparkProcess(UnitPlan& unit, const spec::Job& job) {
    unit.successReplica = "driver";
    const std::string sparkSubmit = findProgram("spark-submit").value_or("");
    if (sparkSubmit.empty()) {
      unit.error =
          "spark-submit was not found on PATH: the local target runs spark jobs with "
          "`spark-submit --master local[N]`; install Apache Spark and put its bin/ on PATH, or "
          "release with --target k8s (Spark operator)";
      return;
    }
    const auto& spark = job.spark.value_or(spec::SparkSettings{});
    std::vector<std::string> command = {
        sparkSubmit, "--master",
        fmt::format("local[{}]", std::max(1, spark.executorInstances * spark.executorCores)),
        "--driver-memory", spark.driverMemory};
    if (!spark.mainClass.empty()) command.insert(command.end(), {"--class", spark.mainClass});
    command.push_back(spark.mainApplicationFile);
    command.insert(command.end(), spark.arguments.begin(), spark.arguments.end());
    addProcess(unit, job, "driver", command);
  }

  void addService(const spec::Service& service) {
    UnitPlan unit = unitFor(service, spec::toString(service.kind));
    unit.service = true;
    unit.port = service.port;
    unit.endpoint = fmt::format("http://127.0.0.1:{}", service.port);
    unit.params = paramsOf(service, service.command);
    if (service.kind == spec::ServiceKind::kServe) {
      unit.params["modelRepository"] = service.modelRepository;
      plan_.modelRepositories[service.name] = service.modelRepository;
      unit.readyPath = kServeReadyPath;
      ProcessPlan process;
      process.replica = "main";
      process.workingDir = projectDir_;
      process.env = baseEnv(service, "main");
      if (isAzureUri(service.modelRepository)) {
        for (auto& [key, value] : azureEnvironment()) process.env.try_emplace(key, value);
      }
      // The server reads the repository straight from blob storage, like on Kubernetes.
      process.argv = serveCommand(service, options_.skiffExe, "127.0.0.1");
      process.argv.insert(process.argv.end(), {"--cache-dir", projectDir_ / ".skiff" / "cache" /
                                                                  ("serve-" + service.name)});
      unit.processes.push_back(std::move(process));
    } else {
      addProcess(unit, service, "main", service.command, {{"PORT", std::to_string(service.port)}});
    }
    finishService(unit);
  }

  void addNotebook(const spec::Notebook& notebook) {
    spec::Workload workload = notebook;
    workload.name = "notebook";
    UnitPlan unit = unitFor(workload, "notebook");
    unit.service = true;
    unit.port = notebook.port;
    const std::string jupyter = findProgram("jupyter-notebook").value_or("");
    if (jupyter.empty()) {
      unit.error =
          "Jupyter was not found (jupyter-notebook on PATH): install Debian's jupyter-notebook "
          "package, or remove notebook: from skiff.yaml";
    } else {
      // The token travels in the environment, not the command line (`ps` shows
      // that), and is kept in a private file, not the state database.
      const std::string token = randomToken();
      unit.endpoint = fmt::format("http://127.0.0.1:{}/", notebook.port);
      unit.loginToken = token;
      plan_.secretValues.push_back(token);  // Jupyter prints its login URL
      std::vector<std::string> command = {jupyter,
                                          "--no-browser",
                                          "--ip=127.0.0.1",
                                          fmt::format("--port={}", notebook.port),
                                          "--port-retries=0",
                                          "--allow-root"};
      const NotebookView view = notebookView(workload);
      if (view.binds.empty()) {
        command.push_back("--notebook-dir=" + workingDir(workload));
      } else {
        command.push_back("--notebook-dir=" + std::string(kNotebookRoot));
        command.push_back("--NotebookApp.default_url=" + view.defaultUrl);
      }
      addProcess(unit, workload, "main", command,
                 {{"JUPYTER_TOKEN", token}, {"JUPYTER_RUNTIME_DIR", "/tmp/jupyter-runtime"}},
                 view.binds);
    }
    finishService(unit);
  }

  // The notebook's file browser shows the project and its storage side by
  // side: a root (in the sandbox) that holds the project under its name and
  // each mount at its mountPath, read-only ones read-only, opening in the
  // project. The kernel sees the same paths as jobs (/data, ...) besides.
  // Without the sandbox the project stays the root (mounts in .skiff/mounts).
  struct NotebookView {
    std::vector<SandboxBind> binds;
    std::string defaultUrl;
  };
  static constexpr const char* kNotebookRoot = "/notebook";

  NotebookView notebookView(const spec::Workload& workload) const {
    NotebookView view;
    const fs::path relative = fs::path(workingDir(workload)).lexically_relative(projectDir_);
    if (sandbox_.empty() || relative.empty() || *relative.begin() == "..") return view;
    std::set<std::string> taken;
    for (const MountPlan* mount : mountsNamed(plan_, workload.mounts)) {
      const fs::path inRoot = fs::path(mount->mountPath).relative_path();
      if (inRoot.empty()) return {};  // a mount at / leaves no root to make
      taken.insert(inRoot.begin()->string());
    }
    std::string projectEntry = spec_.name;
    while (taken.count(projectEntry)) projectEntry += "-project";
    const std::string root = kNotebookRoot;
    view.binds.push_back({projectDir_, root + "/" + projectEntry, false});
    for (const MountPlan* mount : mountsNamed(plan_, workload.mounts)) {
      view.binds.push_back({mount->mountpoint, root + mount->mountPath, mount->readOnly});
    }
    view.defaultUrl = "/tree/" + projectEntry;
    if (relative != ".") view.defaultUrl += "/" + relative.string();
    return view;
  }

  // Services whose plan did not change keep running across releases.
  void finishService(UnitPlan& unit) {
    nlohmann::json identity = unit;
    identity.erase("params");  // a new commit alone does not restart a service
    for (const MountPlan* mount : mountsNamed(plan_, unit.mounts)) {
      identity["mountConfig"].push_back(*mount);
    }
    if (unit.kind == "notebook") {  // a new token each release, in its URL and environment
      identity.erase("endpoint");
      identity.erase("loginToken");
      identity.erase("processes");
    }
    unit.configHash = fmt::format("{:016x}", std::hash<std::string>{}(identity.dump()));
    plan_.units.push_back(std::move(unit));
  }

  const spec::Spec& spec_;
  fs::path projectDir_;
  const SecretValues& secrets_;
  PlanOptions options_;
  std::string sandbox_;  // the bwrap binary, empty: no sandbox
  nlohmann::json provenance_ = nlohmann::json::object();
  LocalPlan plan_;
};

}  // namespace

std::vector<const MountPlan*> mountsNamed(const LocalPlan& plan,
                                          const std::vector<std::string>& names) {
  std::vector<const MountPlan*> found;
  for (const auto& name : names) {
    for (const auto& mount : plan.mounts) {
      if (mount.name == name) found.push_back(&mount);
    }
  }
  return found;
}

int keepRunsSetting() {
  const char* text = std::getenv("SKIFF_KEEP_RUNS");
  if (!text || !*text) return 50;
  int value = 0;
  const std::string_view view(text);
  const auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc() || end != view.data() + view.size() || value < 1 || value > 100000) {
    throw Error(fmt::format("SKIFF_KEEP_RUNS={} is not a number of runs from 1 to 100000", text),
                {}, "set it to how many runs of each job and service the history keeps (50)");
  }
  return value;
}

LocalPlan planRelease(const spec::Spec& spec, const fs::path& projectDir,
                      const SecretValues& secrets, const PlanOptions& options) {
  return Planner(spec, projectDir, secrets, options).plan();
}

}  // namespace skiff::deploy::local
