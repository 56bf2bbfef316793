#pragma once

// .dockerignore rules, with Docker's meaning: patterns relative to the
// context root, '*' and '?' within one path segment, '**' across segments,
// '!' to re-include, the last matching rule wins, and a rule that matches a
// directory covers everything under it.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::image {

class DockerIgnore {
 public:
  DockerIgnore() = default;
  // Reads CONTEXT/.dockerignore; no file means nothing is ignored.
  static DockerIgnore load(const std::filesystem::path& contextDir);
  // One pattern per line; '#' starts a comment line.
  static DockerIgnore parse(std::string_view text);

  void add(std::string pattern);
  // Whether `relativePath` ('/'-separated, relative to the context) is left out.
  bool ignored(std::string_view relativePath) const;
  // The rules as lines of a .dockerignore file, normalized.
  std::string text() const;

 private:
  struct Rule {
    std::vector<std::string> segments;
    bool exclude = true;  // false for a '!' exception
  };
  std::vector<Rule> rules_;
};

}  // namespace skiff::image
