#include "image/dockerignore.hpp"

#include <fnmatch.h>

#include <fstream>
#include <sstream>

namespace skiff::image {
namespace {

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    // Like filepath.Clean: "a//b", "./a" and "a/." are "a/b" and "a".
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.emplace_back(segment);
    }
    start = end + 1;
  }
  return segments;
}

// Matches pattern segments against path segments; a "**" segment stands for
// any number of segments (fnmatch alone has no such wildcard).
bool matchSegments(const std::vector<std::string>& pattern, size_t p,
                   const std::vector<std::string>& path, size_t s) {
  if (p == pattern.size()) return s == path.size();
  if (pattern[p] == "**") {
    for (size_t next = s; next <= path.size(); ++next) {
      if (matchSegments(pattern, p + 1, path, next)) return true;
    }
    return false;
  }
  if (s == path.size()) return false;
  return ::fnmatch(pattern[p].c_str(), path[s].c_str(), 0) == 0 &&
         matchSegments(pattern, p + 1, path, s + 1);
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

}  // namespace

DockerIgnore DockerIgnore::load(const std::filesystem::path& contextDir) {
  std::ifstream in(contextDir / ".dockerignore");
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str());
}

DockerIgnore DockerIgnore::parse(std::string_view text) {
  DockerIgnore ignore;
  size_t start = 0;
  while (start < text.size()) {
    const auto end = std::min(text.find('\n', start), text.size());
    const std::string line = trim(text.substr(start, end - start));
    if (!line.empty() && line[0] != '#') ignore.add(line);
    start = end + 1;
  }
  return ignore;
}

void DockerIgnore::add(std::string pattern) {
  Rule rule;
  if (!pattern.empty() && pattern[0] == '!') {
    rule.exclude = false;
    pattern = trim(pattern.substr(1));
  }
  rule.segments = splitPath(pattern);
  if (!rule.segments.empty()) rules_.push_back(std::move(rule));
}

bool DockerIgnore::ignored(std::string_view relativePath) const {
  const std::vector<std::string> path = splitPath(relativePath);
  bool ignoredNow = false;
  for (const Rule& rule : rules_) {
    // A rule matches the path or one of its parent directories.
    for (size_t length = 1; length <= path.size(); ++length) {
      const std::vector<std::string> prefix(path.begin(), path.begin() + length);
      if (matchSegments(rule.segments, 0, prefix, 0)) {
        ignoredNow = rule.exclude;
        break;
      }
    }
  }
  return ignoredNow;
}

std::string DockerIgnore::text() const {
  std::string out;
  for (const Rule& rule : rules_) {
    if (!rule.exclude) out += '!';
    for (size_t i = 0; i < rule.segments.size(); ++i) out += (i ? "/" : "") + rule.segments[i];
    out += '\n';
  }
  return out;
}

}  // namespace skiff::image
