#pragma once

// The registry HTTP API (distribution v2) for what the builder tools do not
// do: check access before a build, look up manifest digests, and add tags to
// a pushed manifest, so every tag points to the same digest.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/http_client.hpp"
#include "image/credentials.hpp"
#include "image/reference.hpp"

namespace skiff::image {

struct RegistryOptions {
  bool insecure = false;  // plain HTTP, or HTTPS without certificate checks
  std::optional<RegistryCredentials> credentials;
};

class RegistryClient {
 public:
  RegistryClient(Repository repository, RegistryOptions options);
  ~RegistryClient();

  // Reaches the registry and authorizes pushing to the repository; throws
  // skiff::Error saying whether it is unreachable or the credentials are wrong.
  void checkAccess();
  // The digest a tag (or digest) resolves to, or nothing when the registry has no such manifest.
  std::optional<std::string> manifestDigest(const std::string& reference);
  // Points `tag` at the manifest with `digest` (already in the repository).
  void addTag(const std::string& digest, const std::string& tag);
  std::vector<std::string> listTags();

  std::string baseUrl();  // "https://host" or "http://host"

 private:
  http::Response call(http::Request request);
  void authorize(const std::string& challenge, const std::string& url);

  Repository repository_;
  RegistryOptions options_;
  std::unique_ptr<http::Client> client_;
  std::string baseUrl_;        // set once the registry answered
  std::string authorization_;  // the Authorization header value in use
};

// The Accept header for every manifest kind a registry may hold.
extern const char* const kManifestAccept;

}  // namespace skiff::image
