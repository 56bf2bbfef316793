#include "image/builder.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/subprocess.hpp"
#include "common/text.hpp"
#include "image/environment.hpp"
#include "image/scratch_dir.hpp"

namespace skiff::image {
namespace {

namespace fs = std::filesystem;

// The flags the build commands of buildah, podman and docker share.
void appendBuildFlags(std::vector<std::string>& argv, const BuildRequest& request,
                      const fs::path& iidFile) {
  argv.insert(argv.end(), {"--file", request.dockerfile.string(), "--iidfile", iidFile.string()});
  for (const auto& reference : request.references) argv.insert(argv.end(), {"--tag", reference});
  for (const auto& [name, value] : request.buildArgs) {
    argv.insert(argv.end(), {"--build-arg", name + "=" + value});
  }
  if (!request.target.empty()) argv.insert(argv.end(), {"--target", request.target});
}

[[noreturn]] void buildFailed(const BuildRequest& request, const BuildLog& log, int exitCode) {
  log.showFailure();
  std::string where = request.dockerfile.string();
  std::ifstream in(request.dockerfile);
  std::stringstream text;
  text << in.rdbuf();
  if (auto line = instructionLine(text.str(), log.instruction())) {
    where += ":" + std::to_string(*line);
  }
  const std::string error = log.lastError();
  const std::string detail = error.empty() ? fmt::format("exit code {}", exitCode) : error;
  if (log.step().empty()) {
    throw Error(fmt::format("the build failed before its first step: {}", detail), where,
                "check the Dockerfile's syntax and the builder's output above");
  }
  throw Error(
      fmt::format("the build failed at step {} ({}): {}", log.step(), log.instruction(), detail),
      where, "the step's last lines are above; fix the step, then run skiff build again");
}

[[noreturn]] void pushFailed(const std::string& tool, const std::string& reference,
                             const BuildLog& log) {
  log.showFailure();
  const std::string error = log.lastError();
  std::string hint = "check that the registry is up and the credentials can push there";
  if (error.find("unauthorized") != std::string::npos ||
      error.find("authentication required") != std::string::npos) {
    hint = "the registry refused the credentials; log in again or set REGISTRY_AUTH_FILE";
  } else if (error.find("http response to HTTPS") != std::string::npos ||
             error.find("server gave HTTP response") != std::string::npos) {
    hint = "the registry speaks plain HTTP; pass --insecure-registry";
  }
  throw Error(fmt::format("{} push failed: {}", tool, error), reference, hint);
}

// buildah and podman: the same storage flags, nearly the same commands.
class ContainersBuilder : public Builder {
 public:
  ContainersBuilder(std::string program, BuilderSettings settings)
      : program_(std::move(program)), settings_(std::move(settings)) {}

  std::string name() const override { return program_; }

  std::string build(const BuildRequest& request, BuildLog& log) override {
    ScratchDir scratch;
    std::vector<std::string> argv =
        command({program_ == "buildah" ? "bud" : "build", "--isolation", settings_.isolation});
    // Steps whose inputs did not change come from the layer cache, as with
    // Docker (podman's default; buildah's needs asking).
    if (program_ == "buildah") argv.emplace_back("--layers");
    appendBuildFlags(argv, request, scratch / "iid");
    if (!request.ignoreFile.empty()) append(argv, {"--ignorefile", request.ignoreFile.string()});
    appendRegistry(argv, request.registry);
    argv.push_back(request.contextDir.string());
    const int code = run(argv, log);
    if (code != 0) buildFailed(request, log, code);
    return readTrimmedFile(scratch / "iid");
  }

  std::optional<std::string> push(const std::string& reference, const RegistryAccess& registry,
                                  BuildLog& log) override {
    ScratchDir scratch;
    std::vector<std::string> argv =
        command({"push", "--digestfile", (scratch / "digest").string()});
    appendRegistry(argv, registry);
    append(argv, {reference, "docker://" + reference});
    if (run(argv, log) != 0) pushFailed(program_, reference, log);
    const std::string digest = readTrimmedFile(scratch / "digest");
    return digest.empty() ? std::nullopt : std::optional(digest);
  }

  bool exists(const std::string& reference) override {
    const auto args = program_ == "buildah" ? std::vector<std::string>{"inspect", "--type", "image"}
                                            : std::vector<std::string>{"image", "exists"};
    std::vector<std::string> argv = command(args);
    argv.push_back(reference);
    return runCommand(argv).exitCode == 0;
  }

  void tag(const std::string& image, const std::string& reference) override {
    const CommandResult result = runCommand(command({"tag", image, reference}));
    if (result.exitCode != 0) {
      throw Error(fmt::format("{} tag failed: {}", program_, result.err), reference);
    }
  }

 private:
  static void append(std::vector<std::string>& argv, std::initializer_list<std::string> items) {
    argv.insert(argv.end(), items);
  }

  std::vector<std::string> command(std::vector<std::string> args) const {
    std::vector<std::string> argv = {program_,
                                     "--root",
                                     settings_.storageRoot.string(),
                                     "--runroot",
                                     settings_.runRoot.string(),
                                     "--storage-driver",
                                     settings_.storageDriver};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  static void appendRegistry(std::vector<std::string>& argv, const RegistryAccess& registry) {
    if (registry.insecure) argv.emplace_back("--tls-verify=false");
    if (!registry.authFile.empty()) append(argv, {"--authfile", registry.authFile.string()});
  }

  static int run(const std::vector<std::string>& argv, BuildLog& log) {
    // In its own process group (a Ctrl-C of skiff does not reach it), so it
    // goes when skiff goes: an interrupted build leaves no builder behind.
    SpawnOptions options;
    options.dieWithParent = true;
    return runStreaming(argv, options, [&](std::string_view line) { log.line(line); });
  }

  std::string program_;
  BuilderSettings settings_;
};

// Docker's classic builder (BuildKit is not in Debian), through the daemon.
class DockerBuilder : public Builder {
 public:
  std::string name() const override { return "docker"; }

  std::string build(const BuildRequest& request, BuildLog& log) override {
    ScratchDir scratch;
    std::vector<std::string> argv = {"docker", "build"};
    appendBuildFlags(argv, request, scratch / "iid");
    argv.push_back(request.contextDir.string());
    const int code = run(argv, request.registry, log);
    if (code != 0) buildFailed(request, log, code);
    return readTrimmedFile(scratch / "iid");
  }

  std::optional<std::string> push(const std::string& reference, const RegistryAccess& registry,
                                  BuildLog& log) override {
    std::string digest;
    static const std::regex kDigest(R"(digest: (sha256:[0-9a-f]{64}))");
    const int code = run({"docker", "push", reference}, registry, log, [&](std::string_view line) {
      std::match_results<std::string_view::const_iterator> match;
      if (std::regex_search(line.begin(), line.end(), match, kDigest)) digest = match[1].str();
    });
    if (code != 0) pushFailed("docker", reference, log);
    return digest.empty() ? std::nullopt : std::optional(digest);
  }

  bool exists(const std::string& reference) override {
    return runCommand({"docker", "image", "inspect", reference}).exitCode == 0;
  }

  void tag(const std::string& image, const std::string& reference) override {
    const CommandResult result = runCommand({"docker", "tag", image, reference});
    if (result.exitCode != 0) throw Error("docker tag failed: " + result.err, reference);
  }

 private:
  static int run(const std::vector<std::string>& argv, const RegistryAccess& registry,
                 BuildLog& log, const LineSink& watch = {}) {
    SpawnOptions options;
    options.dieWithParent = true;  // as for buildah
    options.extraEnv["DOCKER_BUILDKIT"] = "0";
    // Docker reads credentials from DOCKER_CONFIG/config.json.
    if (!registry.authFile.empty()) {
      options.extraEnv["DOCKER_CONFIG"] = registry.authFile.parent_path().string();
    }
    return runStreaming(argv, options, [&](std::string_view line) {
      if (watch) watch(line);
      log.line(line);
    });
  }
};

std::string notInstalledHint(const std::string& program) {
  return fmt::format("install it (apt-get install {}), or pick another with --builder", program);
}

// Docker needs its daemon; say so before a build starts rather than in its middle.
void checkDockerDaemon() {
  const CommandResult result = runCommand({"docker", "version", "--format", "{{.Server.Version}}"});
  if (result.exitCode != 0) {
    std::string reason = result.err.substr(0, result.err.find('\n'));
    throw Error("docker is installed but its daemon does not answer: " + reason, "docker",
                "start dockerd (or set DOCKER_HOST), or use --builder buildah");
  }
}

}  // namespace

BuilderSettings BuilderSettings::fromEnvironment(const Environment& env) {
  const std::string home = envOr(env, "HOME", "/root");
  const fs::path state =
      envOr(env, "SKIFF_STATE_DIR", envOr(env, "XDG_DATA_HOME", home + "/.local/share") + "/skiff");
  BuilderSettings settings;
  settings.storageRoot = envOr(env, "SKIFF_BUILD_STORAGE_ROOT", (state / "containers/storage"));
  settings.runRoot = state / "containers/run";
  settings.storageDriver = envOr(env, "SKIFF_BUILD_STORAGE_DRIVER", settings.storageDriver);
  settings.isolation = envOr(env, "SKIFF_BUILD_ISOLATION", settings.isolation);
  return settings;
}

std::unique_ptr<Builder> selectBuilder(const std::string& name, const BuilderSettings& settings) {
  auto make = [&](const std::string& program) -> std::unique_ptr<Builder> {
    if (program == "docker") {
      checkDockerDaemon();
      return std::make_unique<DockerBuilder>();
    }
    return std::make_unique<ContainersBuilder>(program, settings);
  };
  if (name == "auto") {
    for (const char* program : {"buildah", "podman", "docker"}) {
      if (findProgram(program)) return make(program);
    }
    throw Error("no image builder found: none of buildah, podman or docker is on PATH",
                "PATH=" + std::string(std::getenv("PATH") ? std::getenv("PATH") : ""),
                "install buildah (apt-get install buildah), which needs no daemon");
  }
  if (std::find(kBuilderNames.begin(), kBuilderNames.end(), name) == kBuilderNames.end()) {
    throw Error(fmt::format("unknown builder \"{}\"", name), "--builder",
                "use " + joinAlternatives(kBuilderNames));
  }
  if (!findProgram(name)) {
    throw Error(fmt::format("builder {} is not installed (not found on PATH)", name),
                "--builder " + name, notInstalledHint(name));
  }
  return make(name);
}

}  // namespace skiff::image
