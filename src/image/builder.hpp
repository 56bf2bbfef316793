#pragma once

// Builder backends: the programs that turn a Dockerfile into an image and
// push it. buildah comes first (no daemon); podman and docker take the same
// requests. Each runs as a child process with an argument vector.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "image/build_log.hpp"
#include "image/environment.hpp"

namespace skiff::image {

// How buildah and podman keep images: skiff's own storage, so builds neither
// need nor disturb a daemon's, and a driver and isolation that work without
// kernel extras (vfs, chroot). See docs/build.md.
struct BuilderSettings {
  std::filesystem::path storageRoot;  // --root
  std::filesystem::path runRoot;      // --runroot
  std::string storageDriver = "vfs";
  std::string isolation = "chroot";

  // SKIFF_STATE_DIR (default ~/.local/share/skiff) holds containers/storage and
  // containers/run; SKIFF_BUILD_STORAGE_ROOT, SKIFF_BUILD_STORAGE_DRIVER and
  // SKIFF_BUILD_ISOLATION override the parts.
  static BuilderSettings fromEnvironment(const Environment& env);
};

// Registry access for a builder: credentials skiff wrote to a private file.
struct RegistryAccess {
  std::filesystem::path authFile;  // a docker/containers auth.json named config.json; may be empty
  bool insecure = false;
};

struct BuildRequest {
  std::filesystem::path contextDir;
  std::filesystem::path dockerfile;
  std::filesystem::path ignoreFile;  // replaces CONTEXT/.dockerignore when set
  std::string target;
  std::map<std::string, std::string> buildArgs;
  std::vector<std::string> references;  // every repository:tag the image gets locally
  RegistryAccess registry;              // for FROM images pulled from a registry
};

class Builder {
 public:
  virtual ~Builder() = default;
  virtual std::string name() const = 0;
  // Builds and tags the image; returns its id. Output goes to `log` as it
  // comes; a failure throws skiff::Error naming the failing step.
  virtual std::string build(const BuildRequest& request, BuildLog& log) = 0;
  // Pushes a local reference to its registry; returns the manifest digest
  // when the tool reports it.
  virtual std::optional<std::string> push(const std::string& reference,
                                          const RegistryAccess& registry, BuildLog& log) = 0;
  virtual bool exists(const std::string& reference) = 0;
  virtual void tag(const std::string& image, const std::string& reference) = 0;
};

inline const std::vector<std::string> kBuilderNames = {"auto", "buildah", "podman", "docker"};

// The builder called `name`, or for "auto" the first usable of buildah, podman
// and docker. Throws skiff::Error when it is missing or cannot work.
std::unique_ptr<Builder> selectBuilder(const std::string& name, const BuilderSettings& settings);

}  // namespace skiff::image
