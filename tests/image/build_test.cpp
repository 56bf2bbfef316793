// `skiff build` as a user runs it: real buildah (vfs storage, chroot
// isolation) and Debian's docker-registry on loopback. What the registry holds
// is checked through its HTTP API, never through skiff.

#include <crypt.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness/services.hpp"
#include "http/http_client.hpp"
#include "image/credentials.hpp"
#include "image/registry.hpp"

namespace skiff::image {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using skiff::testing::LiveService;
using skiff::testing::Registry;
using skiff::testing::runSkiff;
using skiff::testing::TempDir;

constexpr const char* kBusybox = "/bin/busybox";  // Debian's busybox-static

// One image storage for the whole binary, so a base image made by one build
// is there for the next; buildah's --root and --runroot live under it.
const TempDir& stateDir() {
  static TempDir dir("skiff-build-state");
  static bool once = [] {
    // An empty docker config: buildah insists that DOCKER_CONFIG/config.json exists.
    dir.write("home/.docker/config.json", R"({"auths": {}})");
    return true;
  }();
  (void)once;
  return dir;
}

// The environment of every build: isolated storage and home, and no CI
// variables or credentials leaking in from the machine running the tests.
std::map<std::string, std::string> buildEnv(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env = {
      {"SKIFF_STATE_DIR", stateDir().path().string()},
      {"HOME", (stateDir() / "home").string()},
      {"DOCKER_CONFIG", (stateDir() / "home/.docker").string()},
      {"REGISTRY_AUTH_FILE", ""},
      {"SKIFF_BUILD_NUMBER", ""},
      {"BUILD_NUMBER", ""},
      {"GITHUB_RUN_NUMBER", ""},
      {"CI_PIPELINE_IID", ""},
      {"SKIFF_REGISTRY_USERNAME", ""},
      {"SKIFF_REGISTRY_PASSWORD", ""}};
  for (auto& [key, value] : extra) env[key] = value;
  return env;
}

std::string uniqueName(const std::string& prefix) {
  static int counter = 0;
  return fmt::format("{}-{}-{}", prefix, ::getpid(), ++counter);
}

// A project directory: skiff.yaml, a Dockerfile and a static busybox.
struct Project {
  TempDir dir{"skiff-build-project"};
  std::string repository;

  Project(const std::string& repositoryName, const std::string& dockerfile,
          const std::string& tags = "[git-commit]") {
    repository = repositoryName;
    dir.write("skiff.yaml",
              fmt::format("name: demo\nimage:\n  repository: {}\n  tags: {}\n", repository, tags));
    dir.write("Dockerfile", dockerfile);
    fs::copy_file(kBusybox, dir / "busybox");
  }
  const fs::path& path() const { return dir.path(); }
};

const char* const kScratchDockerfile =
    "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n";

CommandResult build(const Project& project, std::vector<std::string> args = {},
                    std::map<std::string, std::string> env = {}) {
  std::vector<std::string> argv = {"build", project.path().string(), "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runSkiff(argv, buildEnv(std::move(env)));
}

json parsed(const CommandResult& result) {
  const json out = json::parse(result.out, nullptr, false);
  EXPECT_TRUE(out.is_object()) << "stdout: " << result.out << "\nstderr: " << result.err;
  return out.is_object() ? out : json::object();
}

// Straight to the registry API: the digest a tag resolves to, and the tag list.
struct RegistryView {
  std::string host;
  std::string authorization;  // a Basic header value for a registry with htpasswd

  std::optional<std::string> digest(const std::string& path, const std::string& reference) {
    http::Client client;
    http::Request request;
    request.method = "HEAD";
    request.headOnly = true;
    request.url = fmt::format("http://{}/v2/{}/manifests/{}", host, path, reference);
    request.headers.emplace_back("Accept", kManifestAccept);
    if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
    const http::Response response = client.send(request);
    if (response.status != 200) return std::nullopt;
    return response.header("docker-content-digest");
  }

  std::vector<std::string> tags(const std::string& path) {
    http::Client client;
    http::Request request;
    request.url = fmt::format("http://{}/v2/{}/tags/list", host, path);
    if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
    const http::Response response = client.send(request);
    EXPECT_EQ(response.status, 200) << response.body;
    return json::parse(response.body).value("tags", std::vector<std::string>{});
  }

  // Every tag of the record is in the registry and resolves to its digest.
  void expectAllTagsAt(const json& record) {
    const std::string repository = record["repository"];
    const std::string path = repository.substr(repository.find('/') + 1);
    const std::string digest = record["digest"];
    ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << record.dump();
    const auto listed = tags(path);
    for (const std::string tag : record["tags"]) {
      EXPECT_NE(std::find(listed.begin(), listed.end(), tag), listed.end()) << tag;
      EXPECT_EQ(this->digest(path, tag), digest) << "tag " << tag;
    }
    EXPECT_EQ(this->digest(path, digest), digest);
  }
};

RegistryView sharedRegistry() {
  return {Registry::shared().host(), ""};
}

std::string git(const fs::path& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {
      "git", "-C", dir.string(), "-c", "user.name=skiff", "-c", "user.email=skiff@example.invalid"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult result = runCommand(argv);
  EXPECT_EQ(result.exitCode, 0) << result.err;
  std::string out = result.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(Build, FromScratchPushesEveryTagToOneDigest) {
  Project project(Registry::shared().host() + "/" + uniqueName("scratch"), kScratchDockerfile,
                  "[git-commit, build-number, branch, datetime, latest]");
  git(project.path(), {"init", "-q", "-b", "feature/Fast_run"});
  git(project.path(), {"add", "-A"});
  git(project.path(), {"commit", "-q", "-m", "first"});
  const std::string sha = git(project.path(), {"rev-parse", "--short", "HEAD"});

  auto result =
      build(project, {"--insecure-registry", "--tag", "release-1"}, {{"SKIFF_BUILD_NUMBER", "41"}});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  const json record = parsed(result);
  const auto tags = record["tags"].get<std::vector<std::string>>();
  ASSERT_EQ(tags.size(), 6u) << record.dump();
  EXPECT_EQ(tags[0], sha) << "the tree is clean: skiff's own .skiff/ ignores itself";
  EXPECT_EQ(tags[1], "41");
  EXPECT_EQ(tags[2], "feature-Fast_run");
  EXPECT_EQ(tags[3].size(), std::string("20261129-154500").size());
  EXPECT_EQ(tags[4], "latest");
  EXPECT_EQ(tags[5], "release-1");
  EXPECT_EQ(record["builder"], "buildah");
  EXPECT_EQ(record["pushed"], true);
  EXPECT_EQ(record["skipped"], false);
  EXPECT_EQ(record["reference"], project.repository + "@" + record["digest"].get<std::string>());
  sharedRegistry().expectAllTagsAt(record);

  // The record on disk is what was printed.
  std::ifstream in(project.path() / ".skiff/build.json");
  EXPECT_EQ(json::parse(in), record);
  // Output streams with a header per step.
  EXPECT_NE(result.err.find("==> step 2/3: COPY busybox /bin/busybox"), std::string::npos)
      << result.err;

  // A change makes the tree dirty and the build run again; the steps did not
  // change, so buildah's layer cache (--layers) gives the same image.
  project.dir.write("extra.txt", "changed");
  auto dirty = build(project, {"--insecure-registry"});
  ASSERT_EQ(dirty.exitCode, 0) << dirty.err;
  const json second = parsed(dirty);
  EXPECT_EQ(second["tags"][0], sha + "-dirty");
  EXPECT_EQ(second["skipped"], false);
  EXPECT_EQ(second["digest"], record["digest"]) << dirty.err;
  EXPECT_NE(dirty.err.find("Using cache"), std::string::npos) << dirty.err;
  EXPECT_NE(dirty.err.find("tag policy build-number"), std::string::npos) << "warned: no number";
  sharedRegistry().expectAllTagsAt(second);
}

// buildah with the storage the builds use, for looking into and running images.
std::vector<std::string> buildah(std::vector<std::string> args) {
  std::vector<std::string> argv = {"buildah",
                                   "--root",
                                   (stateDir() / "containers/storage").string(),
                                   "--runroot",
                                   (stateDir() / "containers/run").string(),
                                   "--storage-driver",
                                   "vfs"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// A project whose serve service runs in the serve image skiff builds: the
// image holds skiff and ONNX Runtime, and answers an inference when run.
TEST(Build, ServeImageHoldsSkiffAndAnswersAnInference) {
  Project project(Registry::shared().host() + "/" + uniqueName("serving"), kScratchDockerfile);
  project.dir.write("skiff.yaml",
                    fmt::format("name: demo\nimage:\n  repository: {}\nservices:\n  classifier:\n"
                                "    kind: serve\n    modelRepository: /models\n",
                                project.repository));
  auto result = build(project, {"--insecure-registry"});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  const json record = parsed(result);
  const std::string serveImage = record.value("serveImage", "");
  ASSERT_EQ(serveImage.rfind(project.repository + "@sha256:", 0), 0u) << record.dump();
  RegistryView registry = sharedRegistry();
  const std::string path = project.repository.substr(project.repository.find('/') + 1);
  std::string tag;
  for (const std::string& listed : registry.tags(path)) {
    if (listed.starts_with("skiff-serve-")) tag = listed;
  }
  ASSERT_FALSE(tag.empty()) << "no skiff-serve- tag in the registry";
  EXPECT_EQ(registry.digest(path, tag), serveImage.substr(serveImage.find('@') + 1));

  // The Deployment skiff renders runs it.
  const CommandResult rendered = runSkiff({"render", project.path().string()}, buildEnv());
  ASSERT_EQ(rendered.exitCode, 0) << rendered.err;
  EXPECT_NE(rendered.out.find("image: " + serveImage), std::string::npos) << rendered.out;

  // A second build finds it in the registry by its content.
  result = build(project, {"--insecure-registry"});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_EQ(parsed(result).value("serveImage", ""), serveImage);
  EXPECT_NE(result.err.find("the serve image is in the registry"), std::string::npos) << result.err;

  // Run it as Kubernetes would (its entrypoint is skiff; uid 65532), over a
  // model repository mounted in, on the host's loopback.
  TempDir models("skiff-serve-image-models");
  const CommandResult made =
      runCommand({"/usr/bin/python3", SKIFF_MAKE_MODELS, (models / "made").string()});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  fs::create_directories(models / "repo/iris/1");
  fs::copy_file(models / "made/iris.onnx", models / "repo/iris/1/model.onnx");
  for (const auto& entry : fs::recursive_directory_iterator(models.path())) {
    fs::permissions(entry.path(), fs::perms::others_read | fs::perms::others_exec,
                    fs::perm_options::add);
  }
  fs::permissions(models.path(), fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::add);
  const CommandResult from =
      runCommand(buildah({"from", "--pull-never", project.repository + ":" + tag}));
  ASSERT_EQ(from.exitCode, 0) << from.err;
  std::string container = from.out.substr(0, from.out.find('\n'));
  const int port = skiff::testing::freeLoopbackPort();
  SpawnOptions spawn;
  spawn.stderrFile = models / "serve.log";
  spawn.stdoutFile = models / "serve.log";
  spawn.dieWithParent = true;
  Subprocess server(buildah({"run", "--isolation", "chroot", "--network", "host", "--volume",
                             (models / "repo").string() + ":/models:ro", container, "--", "skiff",
                             "serve", "--model-repository", "/models", "--http-port",
                             std::to_string(port), "--threads", "1"}),
                    spawn);
  http::Client client;
  http::Request request;
  request.method = "POST";
  request.url = fmt::format("http://127.0.0.1:{}/v2/models/iris/infer", port);
  request.headers = {{"Content-Type", "application/json"}};
  request.body =
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]})";
  std::optional<http::Response> answer;
  for (int i = 0; i < 300 && !(answer && answer->status == 200); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    try {
      answer = client.send(request);
    } catch (const std::exception&) {
    }
  }
  server.stop();
  runCommand(buildah({"rm", container}));
  std::ifstream log(models / "serve.log");
  const std::string logText((std::istreambuf_iterator<char>(log)), {});
  ASSERT_TRUE(answer && answer->status == 200) << logText;
  const json reply = json::parse(answer->body);
  EXPECT_EQ(reply["outputs"][0]["name"], "probabilities");
  EXPECT_EQ(reply["outputs"][0]["data"].size(), 3u);
  EXPECT_NE(logText.find("engine onnxruntime 1.30.0 (/usr/local/bin/libonnxruntime.so.1)"),
            std::string::npos)
      << logText;
}

TEST(Build, SkipsUnchangedContextAndRebuildsChangedOne) {
  Project project(Registry::shared().host() + "/" + uniqueName("cache"), kScratchDockerfile,
                  "[git-commit, datetime]");
  project.dir.write(".dockerignore", "*.log\n");
  project.dir.write("app.txt", "one");
  auto first = build(project, {"--insecure-registry"});
  ASSERT_EQ(first.exitCode, 0) << first.err;
  EXPECT_NE(first.err.find("not in a git work tree"), std::string::npos) << first.err;
  const json built = parsed(first);
  EXPECT_EQ(built["tags"][0].get<std::string>().rfind("content-", 0), 0u);

  auto again = build(project, {"--insecure-registry"});
  ASSERT_EQ(again.exitCode, 0) << again.err;
  const json reused = parsed(again);
  EXPECT_EQ(reused["skipped"], true);
  EXPECT_EQ(reused["digest"], built["digest"]);
  EXPECT_NE(again.err.find("unchanged since the build"), std::string::npos) << again.err;
  EXPECT_EQ(again.err.find("==> step"), std::string::npos) << "nothing was built";
  sharedRegistry().expectAllTagsAt(reused);  // a new datetime tag, same digest

  project.dir.write("debug.log", "ignored by .dockerignore");
  EXPECT_EQ(parsed(build(project, {"--insecure-registry"}))["skipped"], true);

  project.dir.write("app.txt", "two");
  const json rebuilt = parsed(build(project, {"--insecure-registry"}));
  EXPECT_EQ(rebuilt["skipped"], false);
  EXPECT_NE(rebuilt["contextHash"], built["contextHash"]);
  sharedRegistry().expectAllTagsAt(rebuilt);

  const json forced = parsed(build(project, {"--insecure-registry", "--force"}));
  EXPECT_EQ(forced["skipped"], false);
  EXPECT_EQ(forced["contextHash"], rebuilt["contextHash"]);
}

TEST(Build, RunStepsOverALocallyMadeBase) {
  // The base never leaves the machine: built with --no-push into skiff's storage.
  const std::string base = "localhost/" + uniqueName("skiff-base");
  Project baseProject(base, kScratchDockerfile, "[latest]");
  auto baseBuild = build(baseProject, {"--no-push"});
  ASSERT_EQ(baseBuild.exitCode, 0) << baseBuild.err;
  EXPECT_EQ(parsed(baseBuild)["pushed"], false);
  EXPECT_EQ(parsed(baseBuild)["digest"], "");

  Project app(Registry::shared().host() + "/" + uniqueName("runsteps"),
              fmt::format("FROM {}:latest\n"
                          "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
                          "ARG GREETING\n"
                          "RUN echo \"$GREETING from RUN\" > /greeting.txt && cat /greeting.txt\n",
                          base));
  app.dir.write("skiff.yaml", fmt::format("name: demo\nimage:\n  repository: {}\n  tags: [latest]\n"
                                          "  buildArgs:\n    GREETING: hello\n",
                                          app.repository));
  auto result = build(app, {"--insecure-registry"});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_NE(result.err.find("==> step 4/4: RUN echo"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("    hello from RUN"), std::string::npos) << result.err;
  sharedRegistry().expectAllTagsAt(parsed(result));
}

TEST(Build, FailingStepShowsTheStepAndItsLastLines) {
  Project project(Registry::shared().host() + "/" + uniqueName("failing"),
                  "FROM scratch\nCOPY busybox /bin/busybox\n"
                  "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo broken-output; exit 3\"]\n");
  for (const bool quiet : {false, true}) {
    auto result = build(project, quiet ? std::vector<std::string>{"--insecure-registry", "-q"}
                                       : std::vector<std::string>{"--insecure-registry"});
    EXPECT_EQ(result.exitCode, 1);
    EXPECT_NE(result.err.find("skiff: error: " + (project.path() / "Dockerfile:3").string() +
                              ": the build failed at step 3/3"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("    broken-output"), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "") << "no record for a failed build";
  }
  EXPECT_FALSE(fs::exists(project.path() / ".skiff/build.json"));
}

TEST(Build, BadDockerfileIsAClearError) {
  Project project(Registry::shared().host() + "/" + uniqueName("bad"), "FORM scratch\n");
  auto result = build(project, {"--insecure-registry"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("the build failed before its first step"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("Dockerfile"), std::string::npos);

  fs::remove(project.path() / "Dockerfile");
  result = build(project, {"--insecure-registry"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("the Dockerfile does not exist"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("image.dockerfile"), std::string::npos) << result.err;
}

TEST(Build, InvalidTagIsAClearError) {
  Project project(Registry::shared().host() + "/" + uniqueName("badtag"), kScratchDockerfile);
  // --tag takes one value, so the directory after it stays the directory.
  auto result = runSkiff(
      {"build", "--tag", "bad/tag", project.path().string(), "--insecure-registry"}, buildEnv());
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("--tag bad/tag: \"bad/tag\" is not a valid tag"), std::string::npos)
      << result.err;
}

TEST(Build, MissingBuilderIsAClearError) {
  Project project(Registry::shared().host() + "/" + uniqueName("nobuilder"), kScratchDockerfile);
  TempDir emptyPath;
  auto result = build(project, {"--insecure-registry"}, {{"PATH", emptyPath.path().string()}});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("no image builder found: none of buildah, podman or docker"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("apt-get install buildah"), std::string::npos);

  result = build(project, {"--insecure-registry", "--builder", "buildah"},
                 {{"PATH", emptyPath.path().string()}});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("builder buildah is not installed"), std::string::npos) << result.err;

  // Docker's CLI without a reachable daemon (as on the test machines) is named as such.
  if (runCommand({"sh", "-c", "command -v docker && ! docker version >/dev/null 2>&1"}).exitCode ==
      0) {
    result = build(project, {"--insecure-registry", "--builder", "docker"});
    EXPECT_EQ(result.exitCode, 1);
    EXPECT_NE(result.err.find("docker is installed but its daemon does not answer"),
              std::string::npos)
        << result.err;
  }

  result = build(project, {"--builder", "kaniko"});
  EXPECT_EQ(result.exitCode, 2) << "a wrong command line";
}

TEST(Build, UnreachableRegistryIsAClearError) {
  const int port = skiff::testing::freeLoopbackPort();
  Project project(fmt::format("127.0.0.1:{}/nothing-here", port), kScratchDockerfile);
  auto result = build(project, {"--insecure-registry"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(
      result.err.find(fmt::format("http://127.0.0.1:{}/v2/: cannot reach the registry", port)),
      std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("==> step"), std::string::npos) << "checked before building";

  // A plain-HTTP registry on loopback needs no --insecure-registry (as with
  // Docker): nothing on the network sits between.
  Project plain(Registry::shared().host() + "/" + uniqueName("plain"), kScratchDockerfile);
  result = build(plain);
  EXPECT_EQ(result.exitCode, 0) << result.err;
}

// A docker-registry that asks for a user name and password (htpasswd, bcrypt).
class AuthRegistry {
 public:
  static constexpr const char* kUser = "builder";
  static constexpr const char* kPassword = "right-horse-battery";

  AuthRegistry() {
    auto dir = std::make_unique<TempDir>("skiff-auth-registry");
    const int port = skiff::testing::freeLoopbackPort();
    // Cost 4, the least bcrypt allows: the registry checks it on every request.
    const char* salt = ::crypt_gensalt("$2b$", 4, nullptr, 0);
    const std::string hash = ::crypt(kPassword, salt);
    const auto htpasswd = dir->write("htpasswd", fmt::format("{}:{}\n", kUser, hash));
    const auto config =
        dir->write("config.yml",
                   fmt::format("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                               "    rootdirectory: {}\nauth:\n  htpasswd:\n    realm: skiff-test\n"
                               "    path: {}\nhttp:\n  addr: 127.0.0.1:{}\n",
                               (dir->path() / "data").string(), htpasswd.string(), port));
    service_ = std::make_unique<LiveService>(
        "docker-registry with htpasswd",
        std::vector<std::string>{"docker-registry", "serve", config.string()}, port,
        std::move(dir));
  }
  std::string host() const { return fmt::format("127.0.0.1:{}", service_->port()); }

 private:
  std::unique_ptr<LiveService> service_;
};

TEST(Build, RegistryCredentialsFromTheStandardPlaces) {
  AuthRegistry registry;
  Project project(registry.host() + "/" + uniqueName("private"), kScratchDockerfile,
                  "[git-commit, latest]");
  TempDir secrets;
  auto authFile = [&](const std::string& password) {
    return secrets
        .write(
            "auth.json",
            json{{"auths",
                  {{registry.host(),
                    {{"auth", base64Encode(std::string(AuthRegistry::kUser) + ":" + password)}}}}}}
                .dump())
        .string();
  };

  auto none = build(project, {"--insecure-registry"});
  EXPECT_EQ(none.exitCode, 1);
  EXPECT_NE(none.err.find("the registry needs credentials and none were found"), std::string::npos)
      << none.err;

  auto wrong =
      build(project, {"--insecure-registry"}, {{"REGISTRY_AUTH_FILE", authFile("wrong-pw-xyz")}});
  EXPECT_EQ(wrong.exitCode, 1);
  EXPECT_NE(wrong.err.find("the registry rejected the credentials from REGISTRY_AUTH_FILE"),
            std::string::npos)
      << wrong.err;
  EXPECT_EQ(wrong.err.find("wrong-pw-xyz"), std::string::npos) << "never print a secret";
  EXPECT_EQ(wrong.err.find("==> step"), std::string::npos) << "checked before building";

  auto right = build(project, {"--insecure-registry"},
                     {{"REGISTRY_AUTH_FILE", authFile(AuthRegistry::kPassword)}});
  ASSERT_EQ(right.exitCode, 0) << right.err;
  EXPECT_EQ(right.err.find(AuthRegistry::kPassword), std::string::npos);
  EXPECT_EQ(right.out.find(AuthRegistry::kPassword), std::string::npos);
  RegistryView view{registry.host(), "Basic " + base64Encode(std::string(AuthRegistry::kUser) +
                                                             ":" + AuthRegistry::kPassword)};
  view.expectAllTagsAt(parsed(right));

  // The same through the environment; unchanged, so the check for the image
  // in the registry is what authenticates.
  auto fromEnv = build(project, {"--insecure-registry"},
                       {{"SKIFF_REGISTRY_USERNAME", AuthRegistry::kUser},
                        {"SKIFF_REGISTRY_PASSWORD", AuthRegistry::kPassword}});
  ASSERT_EQ(fromEnv.exitCode, 0) << fromEnv.err;
  EXPECT_EQ(parsed(fromEnv)["skipped"], true);
}

}  // namespace
}  // namespace skiff::image
