// The skiff binary as a user runs it: exit codes, help, and validate's output.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

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

// Hostile or broken specs: each is refused quickly, in little memory, with
// a message that names the limit.
struct Measured {
  CommandResult result;
  double seconds = 0;
  long maxRssKiB = 0;  // the largest child so far: one test runs per process
};

Measured validate(const std::filesystem::path& dir) {
  const auto start = std::chrono::steady_clock::now();
  Measured measured;
  // `timeout`: the old reader never returned on /dev/zero.
  measured.result = runCommand({"timeout", "60", skiffBinary(), "validate", dir.string()});
  measured.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct rusage usage {};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  measured.maxRssKiB = usage.ru_maxrss;
  return measured;
}

// The memory of validating a small valid spec with the same binary: what a
// hostile spec may add to is measured from here (a sanitizer build starts
// far higher). Called first: RUSAGE_CHILDREN keeps the largest child.
long baselineRssKiB() {
  TempDir small;
  small.write("skiff.yaml", "name: demo\njobs:\n  hello: {command: [echo, hi]}\n");
  const Measured run = validate(small.path());
  EXPECT_EQ(run.result.exitCode, 0) << run.result.err;
  return run.maxRssKiB;
}

TEST(CliLimits, SpecThatIsADeviceIsRefusedAtOnce) {
  const long baseline = baselineRssKiB();
  TempDir project;
  std::filesystem::create_symlink("/dev/zero", project.path() / "skiff.yaml");
  const auto run = validate(project.path());
  EXPECT_EQ(run.result.exitCode, 1) << run.result.err;
  EXPECT_NE(run.result.err.find("skiff.yaml:1:1: not a regular file"), std::string::npos)
      << run.result.err;
  EXPECT_LT(run.seconds, 10);
  EXPECT_LT(run.maxRssKiB, baseline + 100 * 1024) << "the old reader grew to gigabytes";
}

TEST(CliLimits, SpecLargerThanTheLimitIsRefusedUnread) {
  const long baseline = baselineRssKiB();
  TempDir project;
  {
    // 2.5 million env entries: 2.7 GB of YAML nodes for the old reader.
    std::ofstream out(project.path() / "skiff.yaml");
    out << "name: big\njobs:\n  j:\n    command: [true]\n    env:\n";
    for (int i = 0; i < 2'500'000; ++i) out << "      V" << i << ": x\n";
  }
  ASSERT_GT(std::filesystem::file_size(project.path() / "skiff.yaml"), 40u << 20);
  const auto run = validate(project.path());
  EXPECT_EQ(run.result.exitCode, 1) << run.result.err;
  EXPECT_NE(run.result.err.find("the file is larger than the limit of 4 MiB"), std::string::npos)
      << run.result.err;
  EXPECT_NE(run.result.err.find("SKIFF_MAX_SPEC_SIZE"), std::string::npos) << run.result.err;
  EXPECT_LT(run.seconds, 10);
  EXPECT_LT(run.maxRssKiB, baseline + 100 * 1024);
}

TEST(CliLimits, DeepNestingIsRefused) {
  const long baseline = baselineRssKiB();
  TempDir project;
  const std::string head = "name: deep\njobs:\n  j:\n    command: [true]\n    env:\n      X: ";
  // Within the YAML library's own bound (500), far past any real spec.
  project.write("skiff.yaml", head + std::string(300, '[') + std::string(300, ']') + "\n");
  auto run = validate(project.path());
  EXPECT_EQ(run.result.exitCode, 1) << run.result.err;
  EXPECT_NE(run.result.err.find("skiff.yaml:6:39: nested deeper than 32 levels"), std::string::npos)
      << run.result.err;
  // Past it, and in block style ("- - - ..."): the same kind of message.
  std::string block;
  for (int i = 0; i < 100'000; ++i) block += "- ";
  project.write("skiff.yaml", "name: deep\njobs:\n" + block + "x\n");
  run = validate(project.path());
  EXPECT_EQ(run.result.exitCode, 1) << run.result.err;
  EXPECT_NE(run.result.err.find("nested deeper than"), std::string::npos) << run.result.err;
  EXPECT_LT(run.maxRssKiB, baseline + 200 * 1024);
}

TEST(CliLimits, ASecondYamlDocumentIsAnError) {
  TempDir project;
  project.write("skiff.yaml",
                "name: demo\njobs:\n  a: {command: [echo]}\n---\nname: other\njobs:\n"
                "  b: {command: [echo]}\n");
  const auto result = runSkiff({"validate", project.path().string()});
  EXPECT_EQ(result.exitCode, 1) << result.out;
  EXPECT_NE(result.err.find("skiff.yaml:5:1: 2 YAML documents (separated by ---); skiff.yaml "
                            "holds exactly one"),
            std::string::npos)
      << result.err;
}

// 99999999999999999999h overflowed the clocks: validate called it valid and
// serve spun on a core.
TEST(CliLimits, OversizedDurationsAreRefused) {
  TempDir project;
  project.write("skiff.yaml", R"(name: demo
storage:
  data: {uri: "file:///tmp", mountPath: /data, cacheTimeout: 99999999999999999999h}
services:
  models: {kind: serve, modelRepository: "file:///tmp", poll: 99999999999999999999h}
)");
  const auto validated = runSkiff({"validate", project.path().string()});
  EXPECT_EQ(validated.exitCode, 1) << validated.out;
  EXPECT_NE(validated.err.find("storage.data.cacheTimeout: \"99999999999999999999h\" is not a "
                               "duration"),
            std::string::npos)
      << validated.err;
  EXPECT_NE(validated.err.find("services.models.poll: \"99999999999999999999h\" is not a "
                               "duration"),
            std::string::npos)
      << validated.err;
  EXPECT_NE(validated.err.find("at most 8760h"), std::string::npos) << validated.err;

  const auto served =
      runCommand({"timeout", "20", skiffBinary(), "serve", "--model-repository",
                  project.path().string(), "--http-port", "0", "--poll", "99999999999999999999h"});
  EXPECT_EQ(served.exitCode, 2) << served.err;
  EXPECT_NE(served.err.find("is not a duration"), std::string::npos) << served.err;

  const auto mounted = runSkiff({"mount", "file:///tmp", project.path().string(), "--cache-timeout",
                                 "100000000000000000000000000h"});
  EXPECT_EQ(mounted.exitCode, 2) << mounted.err;
}

// kubectl and git habits: a command a user types from memory either works or
// says what was meant.
TEST(CliHabits, VersionCommand) {
  const auto plain = runSkiff({"version"});
  EXPECT_EQ(plain.exitCode, 0) << plain.err;
  EXPECT_EQ(plain.out.rfind("skiff 0.", 0), 0u) << plain.out;
  const auto json = runSkiff({"version", "--json"});
  ASSERT_EQ(json.exitCode, 0) << json.err;
  const auto report = nlohmann::json::parse(json.out);
  EXPECT_EQ(report["version"].get<std::string>().rfind("0.", 0), 0u) << json.out;
  EXPECT_FALSE(report["commit"].get<std::string>().empty()) << json.out;
  EXPECT_EQ(report["engine"]["name"], "onnxruntime") << json.out;
  EXPECT_TRUE(report["libraries"].contains("libcurl")) << json.out;
}

TEST(CliHabits, MistypedSubcommandsAndOptionsGetSuggestions) {
  const auto subcommand = runSkiff({"blob", "lss", "/tmp"});
  EXPECT_EQ(subcommand.exitCode, 2);
  EXPECT_NE(subcommand.err.find("unknown command \"lss\" for `skiff blob` (did you mean \"ls\"?)"),
            std::string::npos)
      << subcommand.err;
  EXPECT_NE(subcommand.err.find("the commands: ls, cp, rm, cat, stat"), std::string::npos)
      << subcommand.err;
  const auto option = runSkiff({"blob", "ls", "--jsn", "/tmp"});
  EXPECT_EQ(option.exitCode, 2);
  EXPECT_NE(option.err.find("unknown option \"--jsn\" for `skiff blob ls` (did you mean "
                            "\"--json\"?)"),
            std::string::npos)
      << option.err;
  const auto top = runSkiff({"stauts"});
  EXPECT_EQ(top.exitCode, 2);
  EXPECT_NE(top.err.find("did you mean \"status\"?"), std::string::npos) << top.err;
  // Values of options and positionals are never taken for commands.
  EXPECT_EQ(runSkiff({"--log-level", "error", "version"}).exitCode, 0);
  EXPECT_EQ(runSkiff({"blob", "cp", "-", "/tmp/skiff-cli-habits-x"}, {}, "x").exitCode, 0);
  std::filesystem::remove("/tmp/skiff-cli-habits-x");
}

TEST(CliHabits, LogsTakesADirectoryAsTheProject) {
  TempDir root("skiff-logs");
  root.write("proj/skiff.yaml", "name: demo\njobs:\n  hello: {command: [echo, hi]}\n");
  // Was: the directory taken as the job name, then "skiff.yaml:1:1: no such file" in ".".
  const auto logs = runSkiff({"logs", (root / "proj").string()});
  EXPECT_EQ(logs.exitCode, 0) << logs.err;
  EXPECT_EQ(logs.err.find("no such file"), std::string::npos) << logs.err;
  const auto unknown = runSkiff({"logs", "nosuchjob", (root / "proj").string()});
  EXPECT_EQ(unknown.exitCode, 1);
  EXPECT_NE(unknown.err.find("nothing named \"nosuchjob\" has run here"), std::string::npos)
      << unknown.err;
  EXPECT_NE(unknown.err.find("the names: hello"), std::string::npos) << unknown.err;
}

TEST(CliHabits, StatusAndValidateSpeakJsonAndYaml) {
  TempDir project;
  project.write("skiff.yaml", "name: demo\njobs:\n  hello: {command: [echo, hi]}\n");
  const auto json = runSkiff({"status", "-o", "json", project.path().string()});
  ASSERT_EQ(json.exitCode, 0) << json.err;
  const auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed,
            nlohmann::json::parse(runSkiff({"status", "--json", project.path().string()}).out));
  const auto yaml = runSkiff({"status", "-o", "yaml", project.path().string()});
  ASSERT_EQ(yaml.exitCode, 0) << yaml.err;
  EXPECT_NE(yaml.out.find("runs:"), std::string::npos) << yaml.out;
  EXPECT_EQ(yaml.out.find("{\n"), std::string::npos) << yaml.out;

  const auto valid = runSkiff({"validate", "-o", "json", project.path().string()});
  EXPECT_EQ(valid.exitCode, 0) << valid.err;
  EXPECT_EQ(nlohmann::json::parse(valid.out)["valid"], true) << valid.out;
  project.write("skiff.yaml", "name: demo\njobs:\n  hello: {command: [echo, hi], retries: 3}\n");
  const auto invalid = runSkiff({"validate", "--json", project.path().string()});
  EXPECT_EQ(invalid.exitCode, 1);
  EXPECT_EQ(invalid.err, "");
  const auto report = nlohmann::json::parse(invalid.out);
  EXPECT_EQ(report["valid"], false);
  ASSERT_EQ(report["errors"].size(), 1u) << invalid.out;
  EXPECT_EQ(report["errors"][0]["line"], 3);
  EXPECT_EQ(report["errors"][0]["path"], "jobs.hello.retries");
}

// YAML read back as the JSON it should equal: quoted scalars are strings,
// plain ones take the type they spell, as a YAML 1.2 core-schema reader does.
nlohmann::json yamlToJson(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& item : node) object[item.first.as<std::string>()] = yamlToJson(item.second);
    return object;
  }
  if (node.IsSequence()) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& item : node) array.push_back(yamlToJson(item));
    return array;
  }
  if (node.IsNull()) return nullptr;
  const auto text = node.as<std::string>();
  if (node.Tag() == "!") return text;
  if (text == "true" || text == "false") return text == "true";
  if (!text.empty() && text.find_first_not_of("-0123456789") == std::string::npos)
    return std::stoll(text);
  try {
    std::size_t used = 0;
    const double number = std::stod(text, &used);
    if (used == text.size()) return number;
  } catch (const std::exception&) {
  }
  return text;
}

// Every command that prints data for scripts takes --json, -o json and
// -o yaml, and the three say the same thing.
TEST(CliHabits, EveryJsonCommandAlsoSpeaksOutputFormats) {
  TempDir project;
  project.write("skiff.yaml", "name: demo\njobs:\n  hello: {command: [echo, hi]}\n");
  project.write("data/a.txt", "hello\n");
  const std::string dataUri = "file://" + (project / "data").string();
  const std::vector<std::vector<std::string>> commands = {
      {"version"},
      {"validate", project.path().string()},
      {"runs", project.path().string()},
      {"blob", "ls", "-r", dataUri + "/"},
      {"blob", "stat", dataUri + "/a.txt"},
  };
  for (const auto& command : commands) {
    const std::string shown = command[0] + (command.size() > 1 ? " " + command[1] : "");
    auto with = [&](std::vector<std::string> extra) {
      auto argv = command;
      argv.insert(argv.end(), extra.begin(), extra.end());
      const auto result = runSkiff(argv);
      EXPECT_EQ(result.exitCode, 0) << shown << ": " << result.err;
      return result.out;
    };
    const auto json = nlohmann::json::parse(with({"--json"}));
    EXPECT_EQ(nlohmann::json::parse(with({"-o", "json"})), json) << shown;
    const auto yaml = with({"--output", "yaml"});
    EXPECT_EQ(yamlToJson(YAML::Load(yaml)), json) << shown << ":\n" << yaml;
  }
  const auto copied =
      runSkiff({"blob", "cp", "-o", "yaml", (project / "data/a.txt").string(), dataUri + "/b.txt"});
  EXPECT_EQ(copied.exitCode, 0) << copied.err;
  EXPECT_EQ(yamlToJson(YAML::Load(copied.out))["files"], 1) << copied.out;
  const auto wrong = runSkiff({"version", "-o", "xml"});
  EXPECT_EQ(wrong.exitCode, 2);
  EXPECT_NE(wrong.err.find("xml not in {json,yaml}"), std::string::npos) << wrong.err;
}

TEST(CliHabits, CompletionLoadsInBashAndCompletes) {
  const auto script = runSkiff({"completion", "bash"});
  ASSERT_EQ(script.exitCode, 0) << script.err;
  TempDir dir;
  const auto file = dir.write("skiff.bash", script.out);
  auto complete = [&](const std::string& words) {
    const std::string program = "source " + file.string() + " && COMP_WORDS=(" + words +
                                ") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _skiff && "
                                "echo \"${COMPREPLY[*]}\"";
    return runCommand({"bash", "-c", program}).out;
  };
  EXPECT_EQ(complete("skiff bl"), "blob\n");
  EXPECT_EQ(complete("skiff blob c"), "cp cat\n");
  EXPECT_EQ(complete("skiff --log-level debug blob ls --j"), "--json\n");
  EXPECT_EQ(complete("skiff status -o json --ou"), "--output\n");
  for (const std::string shell : {"zsh", "fish"}) {
    const auto other = runSkiff({"completion", shell});
    EXPECT_EQ(other.exitCode, 0) << other.err;
    EXPECT_NE(other.out.find("skiff"), std::string::npos);
  }
}

// As `helm template` and `skaffold render --digest-source=tag`: render works
// before any build (it said "the project has no built image").
TEST(CliHabits, RenderWorksBeforeTheFirstBuild) {
  TempDir project;
  project.write("skiff.yaml",
                "name: demo\nimage: {repository: localhost:5000/demo, tags: [latest]}\n"
                "jobs:\n  hello: {command: [echo, hi]}\n");
  const auto render = runSkiff({"render", project.path().string()});
  ASSERT_EQ(render.exitCode, 0) << render.err;
  EXPECT_NE(render.out.find("image: localhost:5000/demo:latest"), std::string::npos) << render.out;
  EXPECT_NE(render.err.find("no build record"), std::string::npos) << render.err;
  const auto pinned =
      runSkiff({"render", "--image", "localhost:5000/demo@sha256:" + std::string(64, 'a'),
                project.path().string()});
  ASSERT_EQ(pinned.exitCode, 0) << pinned.err;
  EXPECT_NE(pinned.out.find("localhost:5000/demo@sha256:aaaa"), std::string::npos) << pinned.out;

  // Without an image section there is no repository to name: say what to add.
  project.write("skiff.yaml", "name: demo\njobs:\n  hello: {command: [echo, hi]}\n");
  const auto nameless = runSkiff({"render", project.path().string()});
  EXPECT_EQ(nameless.exitCode, 1);
  EXPECT_NE(nameless.err.find("skiff.yaml: nothing to render the project's image from"),
            std::string::npos)
      << nameless.err;
  EXPECT_NE(nameless.err.find("add image: {repository: REGISTRY/NAME}"), std::string::npos)
      << nameless.err;
}

}  // namespace
}  // namespace skiff::testing
