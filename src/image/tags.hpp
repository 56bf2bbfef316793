#pragma once

// The tag policy: which tags a build gets, from the project's image.tags
// (git-commit, build-number, branch, datetime, latest) and --tag.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace skiff::image {

struct GitState {
  std::string shortCommit;  // empty outside a git work tree
  bool dirty = false;       // uncommitted changes
  std::string branch;       // empty on a detached HEAD
};

// Asks git about the tree `dir` is in; an empty state when git or the repository is missing.
GitState probeGit(const std::filesystem::path& dir);

struct TagInputs {
  std::vector<std::string> policies;   // image.tags
  std::vector<std::string> extraTags;  // --tag
  GitState git;
  std::map<std::string, std::string> env;  // build number and CI branch variables
  std::chrono::system_clock::time_point time;
  std::string contextHash;  // "sha256:...": the git-commit fallback outside git
};

struct Tags {
  std::vector<std::string> tags;  // in policy order, then --tag, without repeats
  std::vector<std::string> warnings;
};

// Resolves the policy; throws skiff::Error for an invalid --tag or when no tag is left.
Tags resolveTags(const TagInputs& inputs);

// "20261129-154500" (UTC).
std::string datetimeTag(std::chrono::system_clock::time_point time);

}  // namespace skiff::image
