#include "image/tags.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>

#include "common/error.hpp"
#include "common/subprocess.hpp"
#include "image/reference.hpp"

namespace skiff::image {
namespace {

// Where CI systems put their build number and branch, in the order looked at.
const std::vector<std::string> kBuildNumberVariables = {"SKIFF_BUILD_NUMBER", "BUILD_NUMBER",
                                                        "GITHUB_RUN_NUMBER", "CI_PIPELINE_IID",
                                                        "BUILD_BUILDNUMBER"};
const std::vector<std::string> kBranchVariables = {"GITHUB_HEAD_REF", "GITHUB_REF_NAME",
                                                   "CI_COMMIT_REF_NAME", "BRANCH_NAME",
                                                   "BUILD_SOURCEBRANCHNAME"};

std::optional<std::string> git(const std::filesystem::path& dir,
                               const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  try {
    const CommandResult result = runCommand(argv);
    if (result.exitCode != 0) return std::nullopt;
    std::string out = result.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  } catch (const Error&) {
    return std::nullopt;  // git is not installed
  }
}

std::optional<std::string> firstSet(const std::map<std::string, std::string>& env,
                                    const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (auto found = env.find(name); found != env.end() && !found->second.empty()) {
      return found->second;
    }
  }
  return std::nullopt;
}

}  // namespace

GitState probeGit(const std::filesystem::path& dir) {
  GitState state;
  const auto commit = git(dir, {"rev-parse", "--short", "HEAD"});
  if (!commit) return state;
  state.shortCommit = *commit;
  state.dirty =
      !git(dir, {"status", "--porcelain", "--untracked-files=normal"}).value_or("").empty();
  const auto branch = git(dir, {"rev-parse", "--abbrev-ref", "HEAD"});
  if (branch && *branch != "HEAD") state.branch = *branch;
  return state;
}

std::string datetimeTag(std::chrono::system_clock::time_point time) {
  return fmt::format("{:%Y%m%d-%H%M%S}", std::chrono::floor<std::chrono::seconds>(time));
}

Tags resolveTags(const TagInputs& inputs) {
  Tags result;
  auto add = [&](const std::string& tag) {
    if (std::find(result.tags.begin(), result.tags.end(), tag) == result.tags.end()) {
      result.tags.push_back(tag);
    }
  };
  for (const auto& policy : inputs.policies) {
    if (policy == "git-commit") {
      if (!inputs.git.shortCommit.empty()) {
        add(inputs.git.shortCommit + (inputs.git.dirty ? "-dirty" : ""));
      } else {
        // Outside git the content hash names the build just as uniquely.
        const std::string fallback =
            "content-" + inputs.contextHash.substr(inputs.contextHash.find(':') + 1, 12);
        result.warnings.push_back(fmt::format(
            "tag policy git-commit: the project is not in a git work tree (or git is not "
            "installed); tagging with the context hash instead: {}",
            fallback));
        add(fallback);
      }
    } else if (policy == "build-number") {
      if (auto number = firstSet(inputs.env, kBuildNumberVariables)) {
        const std::string tag = sanitizeTag(*number);
        if (tag.empty()) {
          result.warnings.push_back(
              fmt::format("tag policy build-number: \"{}\" makes no valid tag; skipped", *number));
        } else {
          add(tag);
        }
      } else {
        result.warnings.push_back(
            "tag policy build-number: no build number found; skipped (set SKIFF_BUILD_NUMBER, "
            "or run in CI with BUILD_NUMBER, GITHUB_RUN_NUMBER or CI_PIPELINE_IID)");
      }
    } else if (policy == "branch") {
      std::string branch = inputs.git.branch;
      if (branch.empty()) branch = firstSet(inputs.env, kBranchVariables).value_or("");
      const std::string tag = sanitizeTag(branch);
      if (tag.empty()) {
        result.warnings.push_back(
            "tag policy branch: no branch found (not in git, or a detached HEAD without a CI "
            "branch variable); skipped");
      } else {
        add(tag);
      }
    } else if (policy == "datetime") {
      add(datetimeTag(inputs.time));
    } else if (policy == "latest") {
      add("latest");
    } else {
      throw Error(fmt::format("unknown tag policy \"{}\"", policy), "image.tags",
                  "use git-commit, build-number, branch, datetime or latest");
    }
  }
  for (const auto& tag : inputs.extraTags) {
    if (auto problem = tagProblem(tag)) {
      throw Error(*problem, "--tag " + tag, kTagRule);
    }
    add(tag);
  }
  if (result.tags.empty()) {
    throw Error("the build has no tag", "image.tags",
                "list a tag policy that applies here (e.g. git-commit or datetime) or pass --tag");
  }
  return result;
}

}  // namespace skiff::image
