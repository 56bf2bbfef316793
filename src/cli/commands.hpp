#pragma once

// Each component registers its subcommands here; the CLI itself stays thin:
// it parses arguments, calls a library, and turns the result into output and
// an exit code.

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "spec/spec.hpp"

namespace skiff::image {
struct BuildOptions;
}

namespace skiff::cli {

// Exit codes shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work failed, or the input is wrong
inline constexpr int kExitUsage = 2;    // the command line is wrong

// Where a subcommand stores its exit code; main returns it.
struct CommandContext {
  int exitCode = kExitOk;
};

// Applies `key = value` lines of `file` as the long options of `command`
// (`cache-timeout = 30s`, `read-only = true`); the command line wins over
// the file. Unknown keys and bad values are errors naming file:line.
void applyConfigFile(CLI::App& command, const std::string& file);

// Durations ("30s", "2m", "120", at most a year) and byte sizes ("512Mi")
// through the one parser of each (common/text.hpp). As a transform, the
// duration validator rewrites the value to plain seconds, so a `double`
// seconds option takes "2m" too.
CLI::Validator durationValidator(bool positive = false);
CLI::Validator byteSizeValidator();

// Adds the optional [DIR] argument that every project command takes.
void addProjectDirArgument(CLI::App& command, std::string& projectDir);

// What a project command does with a valid spec and its project directory.
using SpecAction = std::function<void(const spec::Spec&, const std::string& projectDir)>;

// A positional that comes before [DIR] (`skiff logs [NAME] [DIR]`): `add`
// adds it; `takeAsProject` is called when DIR was not given, and hands back
// (and forgets) the positional's value when it names a project directory
// instead (a path with '/', or a directory with skiff.yaml in it).
struct LeadingArgument {
  std::function<void(CLI::App&)> add;
  std::function<std::optional<std::string>()> takeAsProject;
};

// Whether a positional the user gave is a project directory rather than a name.
bool looksLikeProjectDir(const std::string& word);

// Adds a command that loads DIR/skiff.yaml, reports its errors (exit 1), and
// otherwise hands the valid spec to `then`; `announce` prints a one-line
// summary first. Returns the command so callers can add options.
CLI::App* addSpecCommand(CLI::App& app, CommandContext& context, const char* name,
                         const char* description, SpecAction then, bool announce = true,
                         const LeadingArgument& leading = {});

// --target and --namespace, which every command on a target takes.
struct TargetChoice {
  std::string target = "local";
  std::string namespaceName;
};
void addTargetOptions(CLI::App& command, TargetChoice& choice);

// Build output and warnings go to stderr, so stdout carries only results.
void sendBuildOutputToStderr(image::BuildOptions& build);
// Asks the build for the images skiff derives: the serve image when a `kind:
// serve` service of `spec` runs the default one (this skiff binary and the
// ONNX Runtime it would load), the notebook image when skiff starts Jupyter.
void requestDerivedImages(const spec::Spec& spec, image::BuildOptions& build);

void addProjectCommands(CLI::App& app, CommandContext& context);
void addBlobCommands(CLI::App& app, CommandContext& context);
void addMountCommands(CLI::App& app, CommandContext& context);
void addBuildCommands(CLI::App& app, CommandContext& context);
void addDeployCommands(CLI::App& app, CommandContext& context);
void addServeCommands(CLI::App& app, CommandContext& context);
void addRenderCommands(CLI::App& app, CommandContext& context);
void addDashboardCommands(CLI::App& app, CommandContext& context);
void addCsiCommands(CLI::App& app, CommandContext& context);
void addVersionCommands(CLI::App& app, CommandContext& context);

}  // namespace skiff::cli
