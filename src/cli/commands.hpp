#pragma once

// Each component registers its subcommands here; the CLI itself stays thin:
// it parses arguments, calls a library, and turns the result into output and
// an exit code.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

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

// Adds the optional [DIR] argument that every project command takes.
void addProjectDirArgument(CLI::App& command, std::string& projectDir);

void addProjectCommands(CLI::App& app, CommandContext& context);
void addBlobCommands(CLI::App& app, CommandContext& context);
void addMountCommands(CLI::App& app, CommandContext& context);
void addBuildCommands(CLI::App& app, CommandContext& context);

}  // namespace skiff::cli
