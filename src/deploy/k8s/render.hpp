#pragma once

// The Kubernetes objects of a release: what `skiff render` prints and what
// `skiff release --target k8s` applies. One pure function of the spec, the
// image reference and the secret values, so the output is stable and reviews
// well (sorted keys, objects in apply order).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "deploy/secrets.hpp"
#include "spec/spec.hpp"

namespace skiff::deploy::k8s {

using Object = nlohmann::json;

// Labels every object carries; prune, status and logs select by them.
inline constexpr const char* kNameLabel = "app.kubernetes.io/name";
inline constexpr const char* kComponentLabel = "app.kubernetes.io/component";
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kReleaseLabel = "skiff.dev/release";
// "jobs.train", "services.api", "secrets.db", "notebook": which spec entry made it.
inline constexpr const char* kEntryLabel = "skiff.dev/entry";
// On run-to-completion objects (Job, TFJob, ...): a hash of their spec. Their
// pod templates cannot change in place, so a release replaces them when it differs.
inline constexpr const char* kSpecHashAnnotation = "skiff.dev/spec-hash";

struct KindOf {
  const char* apiVersion;
  const char* kind;
};
// Every kind a release makes, in apply order: what others refer to first.
const std::vector<KindOf>& releaseKinds();

// Whether `kind` runs to completion (and is replaced, not updated, when changed).
bool runsToCompletion(const std::string& kind);

struct Release {
  std::string id;               // a hash of the redacted objects: same spec, same id
  std::vector<Object> objects;  // Secrets first, then Services, then workloads
};

// The images a release runs.
struct Images {
  Images(std::string projectImage, std::string serveImage = {}, std::string notebookImage = {})
      : project(std::move(projectImage)),
        serve(std::move(serveImage)),
        notebook(std::move(notebookImage)) {}
  Images(const char* projectImage) : project(projectImage) {}
  std::string project;   // the project's own, built from its Dockerfile
  std::string serve;     // skiff's serve image, for `kind: serve` services
  std::string notebook;  // the project's image with Jupyter, for the notebook
};

// Renders every object of `spec`. Secret data holds the base64 of `secrets`
// (release) or "<redacted>" when `redactSecrets` (render output). Throws
// skiff::Error when a serve service has no image to run.
Release renderRelease(const spec::Spec& spec, const Images& images, const SecretValues& secrets,
                      bool redactSecrets);

// The images a release deploys: `.skiff/build.json`'s references (by digest
// when pushed). An Error telling to run `skiff build` when there is no record.
Images builtImages(const std::filesystem::path& projectDir);

// The name of the objects made for a spec entry: PROJECT-ENTRY (an Error
// past a DNS label's 63 characters).
std::string objectName(const spec::Spec& spec, const std::string& entryName);

// Multi-document YAML ("---" between objects), keys sorted.
std::string toYaml(const std::vector<Object>& objects);
// A v1 List of the objects, as `kubectl get -o json` prints it.
std::string toJsonList(const std::vector<Object>& objects);

// "skiff.dev/release" etc. joined into a label selector: name=APP,managed-by=skiff.
std::string appSelector(const std::string& appName);

}  // namespace skiff::deploy::k8s
