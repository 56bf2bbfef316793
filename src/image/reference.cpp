#include "image/reference.hpp"

#include <fmt/format.h>

#include <regex>

#include "common/error.hpp"

namespace skiff::image {
namespace {

// From the distribution reference grammar (github.com/distribution/reference).
const std::regex kPathComponent("[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*");
const std::regex kHost(
    "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|"
    "\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?");
const std::regex kTag("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");

bool isTagChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

bool isLoopbackRegistry(const Repository& repository) {
  std::string_view host = repository.host;
  if (host.starts_with("[::1]")) return true;
  host = host.substr(0, host.find(':'));
  return host == "localhost" || host.starts_with("127.");
}

Repository parseRepository(const std::string& text, const std::string& where) {
  const std::string hint =
      "write the registry host and path without a tag, e.g. localhost:5000/team/iris";
  if (text.empty()) throw Error("the image repository is empty", where, hint);
  const auto colon = text.rfind(':');
  const auto lastSlash = text.rfind('/');
  if (text.find('@') != std::string::npos ||
      (colon != std::string::npos && (lastSlash == std::string::npos || colon > lastSlash))) {
    throw Error(fmt::format("image repository \"{}\" includes a tag or digest", text), where,
                "tags come from image.tags and --tag; " + hint);
  }
  Repository repository{text, "", "", ""};
  std::string rest = text;
  const auto slash = text.find('/');
  const std::string first = text.substr(0, slash);
  // As in Docker: the first component is a registry host when it looks like one.
  if (slash != std::string::npos &&
      (first.find_first_of(".:") != std::string::npos || first == "localhost" ||
       first.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)) {
    if (!std::regex_match(first, kHost)) {
      throw Error(fmt::format("\"{}\" is not a valid registry host", first), where, hint);
    }
    repository.host = first;
    rest = text.substr(slash + 1);
  } else {
    repository.host = "docker.io";
    if (rest.find('/') == std::string::npos) rest = "library/" + rest;
  }
  repository.apiHost = repository.host == "docker.io" ? "registry-1.docker.io" : repository.host;
  size_t start = 0;
  while (start <= rest.size()) {
    const auto end = std::min(rest.find('/', start), rest.size());
    const std::string component = rest.substr(start, end - start);
    if (!std::regex_match(component, kPathComponent)) {
      throw Error(fmt::format("image repository \"{}\": \"{}\" is not a valid path component", text,
                              component),
                  where,
                  "path components are lowercase letters and digits, separated by '.', '_' "
                  "or '-'; " +
                      hint);
    }
    start = end + 1;
  }
  repository.path = rest;
  return repository;
}

std::optional<std::string> tagProblem(std::string_view tag) {
  if (std::regex_match(tag.begin(), tag.end(), kTag)) return std::nullopt;
  if (tag.empty()) return "a tag cannot be empty";
  if (tag.size() > 128)
    return fmt::format("tag \"{}...\" is longer than 128 characters", tag.substr(0, 20));
  return fmt::format("\"{}\" is not a valid tag", tag);
}

std::string sanitizeTag(std::string_view text) {
  std::string tag;
  for (const char c : text) {
    const char mapped = isTagChar(c) ? c : '-';
    // Collapse runs of replaced characters: "a//b" -> "a-b".
    if (mapped == '-' && !tag.empty() && tag.back() == '-' && !isTagChar(c)) continue;
    tag += mapped;
  }
  const auto first = tag.find_first_not_of(".-");
  tag = first == std::string::npos ? "" : tag.substr(first);
  if (tag.size() > 128) tag.resize(128);
  return tag;
}

}  // namespace skiff::image
