#include "spec/spec.hpp"

namespace skiff::spec {

const char* toString(JobKind kind) {
  switch (kind) {
    case JobKind::kJob:
      return "job";
    case JobKind::kTFJob:
      return "tfjob";
    case JobKind::kPyTorchJob:
      return "pytorchjob";
    case JobKind::kSpark:
      return "spark";
  }
  return "job";
}

const char* toString(ServiceKind kind) {
  return kind == ServiceKind::kServe ? "serve" : "service";
}

const char* toString(StorageKind kind) {
  switch (kind) {
    case StorageKind::kBlob:
      return "blob";
    case StorageKind::kHostPath:
      return "hostPath";
    case StorageKind::kFileShare:
      return "fileShare";
  }
  return "blob";
}

}  // namespace skiff::spec
