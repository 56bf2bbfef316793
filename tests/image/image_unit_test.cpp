// The parts of skiff build that need no builder or registry: .dockerignore
// rules, the context hash, the tag policy, references, credentials lookup and
// the build log.

#include <gtest/gtest.h>

#include <chrono>

#include "common/error.hpp"
#include "harness/temp_dir.hpp"
#include "image/build_log.hpp"
#include "image/context_hash.hpp"
#include "image/credentials.hpp"
#include "image/dockerignore.hpp"
#include "image/reference.hpp"
#include "image/tags.hpp"

namespace skiff::image {
namespace {

using skiff::testing::TempDir;

TEST(DockerIgnore, FollowsDockerRules) {
  const DockerIgnore ignore = DockerIgnore::parse(
      "# comment\n*.log\n/build\ndocs/**/*.tmp\n**/secret.txt\ndata\n!data/keep.csv\n  \n");
  EXPECT_TRUE(ignore.ignored("app.log"));
  EXPECT_FALSE(ignore.ignored("sub/app.log")) << "'*' stays within the root";
  EXPECT_TRUE(ignore.ignored("build"));
  EXPECT_TRUE(ignore.ignored("build/out/a.o")) << "a matched directory covers its contents";
  EXPECT_TRUE(ignore.ignored("docs/a/b/c.tmp"));
  EXPECT_TRUE(ignore.ignored("docs/c.tmp")) << "'**' matches zero segments too";
  EXPECT_TRUE(ignore.ignored("x/y/secret.txt"));
  EXPECT_TRUE(ignore.ignored("secret.txt"));
  EXPECT_TRUE(ignore.ignored("data/other.csv"));
  EXPECT_FALSE(ignore.ignored("data/keep.csv")) << "the last matching rule wins";
  EXPECT_FALSE(ignore.ignored("src/main.py"));
  EXPECT_FALSE(ignore.ignored("comment"));
  EXPECT_EQ(DockerIgnore::parse("./a//b/\n!c\n").text(), "a/b\n!c\n");
}

TEST(ContextHash, ChangesWithWhatTheBuildReadsOnly) {
  TempDir dir;
  dir.write("Dockerfile", "FROM scratch\nCOPY . /\n");
  dir.write("app/main.py", "print(1)\n");
  dir.write("notes.log", "a");
  HashInputs inputs{dir.path(), dir / "Dockerfile", {}, "", DockerIgnore::parse("*.log")};
  const std::string first = hashBuildInputs(inputs);
  EXPECT_EQ(first.rfind("sha256:", 0), 0u);
  EXPECT_EQ(hashBuildInputs(inputs), first);
  dir.write("notes.log", "ignored change");
  EXPECT_EQ(hashBuildInputs(inputs), first) << "an ignored file does not count";
  dir.write("app/main.py", "print(2)\n");
  const std::string second = hashBuildInputs(inputs);
  EXPECT_NE(second, first);
  inputs.buildArgs["MODE"] = "fast";
  EXPECT_NE(hashBuildInputs(inputs), second) << "build arguments count";
  inputs.buildArgs.clear();
  dir.write("app/new.py", "");
  EXPECT_NE(hashBuildInputs(inputs), second) << "a new empty file counts";
  EXPECT_THROW(hashBuildInputs({dir / "missing", dir / "Dockerfile", {}, "", {}}), Error);
}

TagInputs tagInputs(std::vector<std::string> policies) {
  TagInputs inputs;
  inputs.policies = std::move(policies);
  inputs.git = {"abc1234", false, "feature/Fast run"};
  // 2026-11-29 15:45:00 UTC
  inputs.time = std::chrono::system_clock::time_point(std::chrono::seconds(1795967100));
  inputs.contextHash = "sha256:0123456789abcdef0123";
  return inputs;
}

TEST(Tags, PolicyInOrderWithoutRepeats) {
  TagInputs inputs =
      tagInputs({"git-commit", "build-number", "branch", "datetime", "latest", "git-commit"});
  inputs.env = {{"GITHUB_RUN_NUMBER", "17"}, {"BUILD_NUMBER", "42"}};
  inputs.extraTags = {"v1.2.3", "latest"};
  const Tags tags = resolveTags(inputs);
  EXPECT_EQ(tags.tags, (std::vector<std::string>{"abc1234", "42", "feature-Fast-run",
                                                 "20261129-154500", "latest", "v1.2.3"}));
  EXPECT_TRUE(tags.warnings.empty());
  inputs.env["SKIFF_BUILD_NUMBER"] = "7";
  EXPECT_EQ(resolveTags(inputs).tags[1], "7") << "SKIFF_BUILD_NUMBER comes first";
}

TEST(Tags, DirtyTreesAndFallbacks) {
  TagInputs inputs = tagInputs({"git-commit", "build-number", "branch"});
  inputs.git.dirty = true;
  EXPECT_EQ(resolveTags(inputs).tags.front(), "abc1234-dirty");

  inputs.git = {};
  inputs.env = {{"CI_COMMIT_REF_NAME", "main"}};
  const Tags outside = resolveTags(inputs);
  EXPECT_EQ(outside.tags, (std::vector<std::string>{"content-0123456789ab", "main"}));
  ASSERT_EQ(outside.warnings.size(), 2u);
  EXPECT_NE(outside.warnings[0].find("not in a git work tree"), std::string::npos);
  EXPECT_NE(outside.warnings[1].find("SKIFF_BUILD_NUMBER"), std::string::npos);
}

TEST(Tags, InvalidExtraTagsAndNoTagsAreErrors) {
  TagInputs inputs = tagInputs({"latest"});
  for (const std::string& bad :
       std::vector<std::string>{"has/slash", ".dot", "-dash", std::string(129, 'a'), ""}) {
    inputs.extraTags = {bad};
    try {
      resolveTags(inputs);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--tag"), std::string::npos) << e.what();
    }
  }
  inputs = tagInputs({"build-number"});
  EXPECT_THROW(resolveTags(inputs), Error);
}

TEST(Reference, OnlyRegistriesOnThisMachineAreLoopback) {
  for (const char* loopback : {"localhost:5000/iris", "localhost/iris", "127.0.0.1:5000/iris",
                               "127.1.2.3/team/iris", "[::1]:5000/iris"}) {
    EXPECT_TRUE(isLoopbackRegistry(parseRepository(loopback, "test"))) << loopback;
  }
  for (const char* remote : {"iris", "registry.example:5000/iris", "localhost.example/iris",
                             "128.0.0.1:5000/iris", "ghcr.io/127.0.0.1/iris"}) {
    EXPECT_FALSE(isLoopbackRegistry(parseRepository(remote, "test"))) << remote;
  }
}

TEST(Reference, RepositoriesAndTags) {
  const Repository local = parseRepository("127.0.0.1:5000/team/iris", "test");
  EXPECT_EQ(local.host, "127.0.0.1:5000");
  EXPECT_EQ(local.path, "team/iris");
  EXPECT_EQ(local.withTag("v1"), "127.0.0.1:5000/team/iris:v1");
  const Repository hub = parseRepository("iris", "test");
  EXPECT_EQ(hub.host, "docker.io");
  EXPECT_EQ(hub.apiHost, "registry-1.docker.io");
  EXPECT_EQ(hub.path, "library/iris");
  EXPECT_EQ(parseRepository("localhost/base", "test").host, "localhost");
  for (const char* bad :
       {"", "localhost:5000/iris:v1", "Registry/Iris", "host/a@sha256:00", "host:5000/bad..name"}) {
    EXPECT_THROW(parseRepository(bad, "test"), Error) << bad;
  }
  EXPECT_FALSE(tagProblem("v1.2_3-rc"));
  EXPECT_TRUE(tagProblem("a:b"));
  EXPECT_EQ(sanitizeTag("feature//x y"), "feature-x-y");
  EXPECT_EQ(sanitizeTag("-._ok"), "_ok");
  EXPECT_EQ(sanitizeTag("///"), "");
}

TEST(Credentials, StandardPlacesInOrderNeverTheCommandLine) {
  TempDir dir;
  const std::string host = "127.0.0.1:5000";
  const auto authFile =
      dir.write("auth.json", R"({"auths": {"http://127.0.0.1:5000/v1/": {"auth": ")" +
                                 base64Encode("alice:s3cret:with-colon") + R"("}}})");
  dir.write("docker/config.json",
            R"({"auths": {"127.0.0.1:5000": {"username": "bob", "password": "pw"}}})");
  std::map<std::string, std::string> env = {{"REGISTRY_AUTH_FILE", authFile.string()},
                                            {"DOCKER_CONFIG", (dir / "docker").string()}};
  auto found = findCredentials(host, env);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->username, "alice");
  EXPECT_EQ(found->password, "s3cret:with-colon");
  EXPECT_NE(found->source.find("REGISTRY_AUTH_FILE"), std::string::npos);
  EXPECT_EQ(found->source.find("s3cret"), std::string::npos);

  env.erase("REGISTRY_AUTH_FILE");
  EXPECT_EQ(findCredentials(host, env)->username, "bob");
  EXPECT_FALSE(findCredentials("other.example:5000", env));

  env["SKIFF_REGISTRY_USERNAME"] = "carol";
  EXPECT_THROW(findCredentials(host, env), Error) << "a user name without a password";
  env["SKIFF_REGISTRY_PASSWORD"] = "pw2";
  EXPECT_EQ(findCredentials(host, env)->username, "carol");

  writeAuthFile(dir / "written.json", host, {"dave", "pw3", "test"});
  EXPECT_EQ(
      std::filesystem::status(dir / "written.json").permissions() & std::filesystem::perms::all,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto again = findCredentials(host, {{"REGISTRY_AUTH_FILE", (dir / "written.json").string()}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->password, "pw3");
  EXPECT_EQ(base64Decode(base64Encode("ab")), "ab");
  EXPECT_FALSE(base64Decode("abc"));
}

TEST(BuildLog, StepsBecomeHeadersAndTheTailIsKept) {
  std::vector<std::string> printed;
  BuildLog log([&](std::string_view line) { printed.emplace_back(line); }, false);
  log.line("STEP 1/2: FROM scratch");
  log.line("[2/2] STEP 2/2: RUN make");
  log.line("compiling");
  log.line("Error: building at STEP \"RUN make\": exit status 2");
  EXPECT_EQ(printed.front(), "==> step 1/2: FROM scratch");
  EXPECT_EQ(printed[1], "==> step 2/2: RUN make");
  EXPECT_EQ(printed[2], "    compiling");
  EXPECT_EQ(log.step(), "2/2");
  EXPECT_EQ(log.instruction(), "RUN make");
  EXPECT_EQ(log.tail().size(), 2u);
  EXPECT_EQ(log.lastError(), "Error: building at STEP \"RUN make\": exit status 2");

  BuildLog docker([&](std::string_view) {}, true);
  docker.line("Step 3/4 : COPY . /app");
  EXPECT_EQ(docker.step(), "3/4");
  EXPECT_EQ(docker.instruction(), "COPY . /app");
}

TEST(BuildLog, FindsTheDockerfileLineOfAnInstruction) {
  const std::string dockerfile = "# syntax comment\nFROM scratch\n\nRUN a && \\\n    b\nrun   c\n";
  EXPECT_EQ(instructionLine(dockerfile, "FROM scratch"), 2);
  EXPECT_EQ(instructionLine(dockerfile, "RUN a && b"), 4);
  EXPECT_EQ(instructionLine(dockerfile, "RUN c"), 6);
  EXPECT_FALSE(instructionLine(dockerfile, "RUN d"));
}

}  // namespace
}  // namespace skiff::image
