#pragma once

// A content hash of what a build reads, so an unchanged build can be skipped:
// every file of the context that .dockerignore lets through (path, type,
// mode and content), the Dockerfile, the build arguments and the target.

#include <filesystem>
#include <map>
#include <string>

#include "image/dockerignore.hpp"

namespace skiff::image {

struct HashInputs {
  std::filesystem::path contextDir;
  std::filesystem::path dockerfile;
  std::map<std::string, std::string> buildArgs;
  std::string target;
  DockerIgnore ignore;  // the context's .dockerignore plus skiff's own exclusions
};

// "sha256:<hex>"; throws skiff::Error when the context cannot be read.
std::string hashBuildInputs(const HashInputs& inputs);

}  // namespace skiff::image
