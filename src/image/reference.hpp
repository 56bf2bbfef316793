#pragma once

// Image references: a repository ("127.0.0.1:5000/team/iris") split into the
// registry host and the path the registry API uses, and tag names, both
// checked against the Docker reference grammar.

#include <optional>
#include <string>
#include <string_view>

namespace skiff::image {

struct Repository {
  std::string text;     // as written, e.g. "localhost:5000/iris"
  std::string host;     // registry host[:port] as credentials name it, e.g. "docker.io"
  std::string apiHost;  // where the registry API answers, e.g. "registry-1.docker.io"
  std::string path;     // the name in /v2/<path>/..., e.g. "library/iris"

  std::string withTag(const std::string& tag) const { return text + ":" + tag; }
  std::string withDigest(const std::string& digest) const { return text + "@" + digest; }
};

// Parses and checks a repository; throws skiff::Error naming `where`.
Repository parseRepository(const std::string& text, const std::string& where);

// Whether the registry is on this machine (localhost, 127.0.0.0/8, [::1]):
// like Docker, skiff lets such a registry speak plain HTTP without
// --insecure-registry, since nothing on the network can sit in between.
bool isLoopbackRegistry(const Repository& repository);

// What is wrong with a tag, or nothing when it is valid: 1 to 128 characters
// of [A-Za-z0-9_.-], not starting with '.' or '-'.
std::optional<std::string> tagProblem(std::string_view tag);

// Turns free text (a branch name, say "feature/Fast run") into a valid tag
// ("feature-Fast-run"); empty when nothing usable is left.
std::string sanitizeTag(std::string_view text);

inline constexpr const char* kTagRule =
    "a tag is 1-128 letters, digits, '_', '.' or '-', and does not start with '.' or '-'";

}  // namespace skiff::image
