#pragma once

// The data model of skiff.yaml, the one declarative spec of a project.
// docs/skiff-yaml.md documents every field; parse.hpp turns YAML into this.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace skiff::spec {

struct Resources {
  std::string cpu;     // Kubernetes quantity, e.g. "500m" or "2"
  std::string memory;  // Kubernetes quantity, e.g. "4Gi"
  int gpu = 0;         // nvidia.com/gpu
};

struct Image {
  std::string dockerfile = "Dockerfile";
  std::string context = ".";
  std::string repository;  // registry host + path, e.g. "localhost:5000/iris"
  std::string target;      // multi-stage build target, empty for the last stage
  std::map<std::string, std::string> buildArgs;
  // Tag policy, in order: git-commit, build-number, branch, datetime, latest.
  std::vector<std::string> tags = {"git-commit"};
};

enum class StorageKind { kBlob, kHostPath, kFileShare };

enum class BlobDriver { kSkiff, kAzure };

struct Storage {
  std::string name;
  StorageKind kind = StorageKind::kBlob;
  std::string
      uri;  // blob: az://ACCOUNT/CONTAINER/PREFIX or file:///PATH; share: azfile://ACCOUNT/SHARE
  std::string path;       // hostPath: the directory on the node (local SSD scratch)
  std::string mountPath;  // where it appears inside jobs and services
  bool readOnly = false;
  double cacheTimeoutSeconds = 120;  // blob only: how long cached data is served unchecked
  std::string secret;                // credentials for az:// and azfile:// (a secrets entry)
  // On Kubernetes, who mounts an az:// blob entry: skiff's own CSI driver
  // (`skiff csi install`, the same mount as on the local target) or Azure's
  // blob CSI driver (blobfuse). Other entries ignore it.
  BlobDriver driver = BlobDriver::kSkiff;
};

struct Secret {
  std::string name;
  std::vector<std::string> fromEnv;  // variable names read from the releasing environment
  std::string fromFile;              // a KEY=VALUE file, relative to the project
  bool existing = false;             // already in the cluster; skiff does not create it
};

enum class JobKind { kJob, kTFJob, kPyTorchJob, kSpark };

struct Replica {
  int count = 1;
  std::optional<Resources> resources;  // overrides the job's resources for this role
};

struct SparkSettings {
  std::string mainApplicationFile;
  std::string mainClass;
  std::string sparkVersion = "3.5.0";
  std::string type = "Python";  // Python, Scala, Java or R
  std::vector<std::string> arguments;
  int driverCores = 1;
  std::string driverMemory = "1g";
  int executorCores = 1;
  std::string executorMemory = "1g";
  int executorInstances = 1;
};

// What jobs, services and the notebook share: how their processes run.
struct Workload {
  std::string name;
  std::vector<std::string> command;
  std::string workingDir;
  std::map<std::string, std::string> env;
  std::vector<std::string> secrets;  // secrets entries exposed as environment variables
  std::vector<std::string> mounts;   // storage entries mounted at their mountPath
  Resources resources;
};

struct Job : Workload {
  JobKind kind = JobKind::kJob;
  std::string restartPolicy = "Never";  // Never or OnFailure
  int backoffLimit = 0;
  std::map<std::string, Replica> replicas;  // tfjob/pytorchjob roles, e.g. worker -> 2
  std::optional<SparkSettings> spark;
};

enum class ServiceKind { kService, kServe };

// Dynamic batching of `skiff serve` for every model of the repository whose
// config.yaml sets no batching of its own (docs/serve.md says the rule).
struct ServeBatching {
  int64_t maxBatchSize = 0;                          // the most rows one batch takes
  std::optional<int64_t> maxQueueDelayMicroseconds;  // none: the server's default (1ms)
  std::vector<int64_t> preferredBatchSizes;          // none: maxBatchSize
};

struct Service : Workload {
  ServiceKind kind = ServiceKind::kService;
  int port = 8080;
  int replicas = 1;
  std::string modelRepository;  // serve: URI of <model>/<version>/model.onnx
  // The image it runs on Kubernetes; empty: the project's image (serve: the
  // serve image `skiff build` makes).
  std::string image;
  double pollSeconds = 30;                // serve: how often the repository is checked
  int grpcPort = 0;                       // serve: KServe v2 over gRPC beside REST; 0: none
  std::optional<ServeBatching> batching;  // serve: for models that set none
};

struct Notebook : Workload {
  int port = 8888;
};

struct Spec {
  std::string name;
  std::optional<Image> image;
  std::map<std::string, Storage> storage;
  std::map<std::string, Secret> secrets;
  std::map<std::string, Job> jobs;
  std::map<std::string, Service> services;
  std::optional<Notebook> notebook;
};

const char* toString(JobKind kind);
const char* toString(ServiceKind kind);
const char* toString(StorageKind kind);

}  // namespace skiff::spec
