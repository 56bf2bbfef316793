// The skiff binary as a user runs it: exit codes, help, and validate's output.

#include <gtest/gtest.h>

#include "harness/services.hpp"

namespace skiff::testing {
namespace {

int countLines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST(Cli, VersionAndHelp) {
  const auto version = runSkiff({"--version"});
  EXPECT_EQ(version.exitCode, 0);
  EXPECT_EQ(version.out.rfind("skiff 0.", 0), 0u) << version.out;

  const auto help = runSkiff({"help"});
  EXPECT_EQ(help.exitCode, 0) << help.err;
  EXPECT_NE(help.out.find("validate"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("notebook -> Dockerfile + skiff.yaml"), std::string::npos) << help.out;

  const auto commandHelp = runSkiff({"validate", "--help"});
  EXPECT_EQ(commandHelp.exitCode, 0);
  EXPECT_NE(commandHelp.out.find("DIR"), std::string::npos) << commandHelp.out;
  EXPECT_EQ(runSkiff({"help", "validate"}).out, commandHelp.out);
}

TEST(Cli, UsageErrorsExitWithTwo) {
  const auto unknown = runSkiff({"frobnicate"});
  EXPECT_EQ(unknown.exitCode, 2);
  EXPECT_NE(unknown.err.find("frobnicate"), std::string::npos) << unknown.err;
  EXPECT_EQ(runSkiff({}).exitCode, 2) << "a command is required";
}

TEST(Cli, ValidateReportsThreeMistakesAndExitsOne) {
  TempDir project;
  project.write("skiff.yaml", R"(name: demo
jobs:
  train:
    command: [python3, train.py]
    backoffLimit: many
    mount: [data]
services:
  api:
    port: 8080
)");
  const auto result = runSkiff({"validate", project.path().string()});
  EXPECT_EQ(result.exitCode, 1);
  const std::string file = (project.path() / "skiff.yaml").string();
  EXPECT_NE(result.err.find(file + ":5:19: jobs.train.backoffLimit: expected a whole number, got "
                                   "\"many\""),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(file + ":6:5: jobs.train.mount: unknown field (did you mean "
                                   "\"mounts\"?)"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(file + ":9:5: services.api.command: missing required field"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("3 errors in " + file), std::string::npos) << result.err;
  EXPECT_EQ(countLines(result.err), 4) << result.err;
  EXPECT_EQ(result.out, "");
}

TEST(Cli, ValidateDefaultsToTheCurrentDirectory) {
  TempDir project;
  project.write("skiff.yaml", "name: demo\njobs:\n  hello: {command: [echo, hi]}\n");
  SpawnOptions options;
  options.workingDir = project.path();
  const auto result = runCommand({skiffBinary(), "validate"}, options);
  EXPECT_EQ(result.exitCode, 0) << result.err;
  EXPECT_NE(result.out.find("skiff.yaml is valid: project demo: 1 job"), std::string::npos)
      << result.out;
}

TEST(Cli, ValidateWithoutASpecSaysWhatToDo) {
  TempDir empty;
  const auto result = runSkiff({"validate", empty.path().string()});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("skiff.yaml:1:1: no such file (create it"), std::string::npos)
      << result.err;
}

TEST(Cli, RunValidatesFirst) {
  TempDir project;
  project.write("skiff.yaml", "name: demo\njobs:\n  hello: {comand: [echo]}\n");
  const auto result = runSkiff({"run", project.path().string()});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("jobs.hello.comand: unknown field"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace skiff::testing
