#pragma once

// Registry credentials, from the places container tools read them and never
// from the command line (it would show in ps). In order:
//   SKIFF_REGISTRY_USERNAME with SKIFF_REGISTRY_PASSWORD,
//   REGISTRY_AUTH_FILE (podman/buildah/skopeo auth.json),
//   $DOCKER_CONFIG/config.json or ~/.docker/config.json, including credHelpers
//   and credsStore (docker-credential-<helper> get).
// Messages name where credentials came from, never what they are.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "image/environment.hpp"

namespace skiff::image {

struct RegistryCredentials {
  std::string username;
  std::string password;
  std::string source;  // e.g. "REGISTRY_AUTH_FILE (/run/auth.json)", for messages
};

// The credentials for registry `host` (host[:port]); `env` is the environment to read.
std::optional<RegistryCredentials> findCredentials(const std::string& host, const Environment& env);

// Writes a docker/containers auth file readable only by its owner, holding
// one entry for `host`, so a builder tool uses exactly these credentials.
void writeAuthFile(const std::filesystem::path& file, const std::string& host,
                   const RegistryCredentials& credentials);

std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace skiff::image
