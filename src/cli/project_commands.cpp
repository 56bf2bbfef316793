// Commands that act on a project directory: validate (the others build on addSpecCommand).

#include <fmt/format.h>

#include <functional>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "spec/parse.hpp"

namespace skiff::cli {

void addProjectDirArgument(CLI::App& command, std::string& projectDir) {
  command.add_option("DIR", projectDir, "Project directory, the one with skiff.yaml")
      ->capture_default_str();
}

namespace {

// "1 job", "2 jobs"; `many` for nouns that do not just take an "s".
std::string plural(size_t count, const char* one, const char* many = nullptr) {
  if (count == 1) return fmt::format("1 {}", one);
  return many ? fmt::format("{} {}", count, many) : fmt::format("{} {}s", count, one);
}

// Loads and validates DIR/skiff.yaml; prints every diagnostic to stderr.
std::optional<spec::Spec> loadAndReport(const std::string& projectDir) {
  spec::ParseResult result = spec::loadProject(projectDir);
  for (const auto& diagnostic : result.diagnostics) std::cerr << diagnostic.format() << "\n";
  if (!result.ok()) {
    std::cerr << fmt::format("{} in {}\n", plural(result.diagnostics.size(), "error"),
                             result.diagnostics.front().file);
  }
  return std::move(result.spec);
}

std::string summary(const spec::Spec& spec) {
  return fmt::format("project {}: {}, {}, {}{}", spec.name, plural(spec.jobs.size(), "job"),
                     plural(spec.services.size(), "service"),
                     plural(spec.storage.size(), "storage entry", "storage entries"),
                     spec.notebook ? ", a notebook" : "");
}

}  // namespace

CLI::App* addSpecCommand(CLI::App& app, CommandContext& context, const char* name,
                         const char* description, SpecAction then, bool announce,
                         const std::function<void(CLI::App&)>& addLeadingArguments) {
  auto projectDir = std::make_shared<std::string>(".");
  CLI::App* command = app.add_subcommand(name, description);
  if (addLeadingArguments) addLeadingArguments(*command);
  addProjectDirArgument(*command, *projectDir);
  command->callback([&context, projectDir, then = std::move(then), announce] {
    const auto spec = loadAndReport(*projectDir);
    if (!spec) {
      context.exitCode = kExitFailure;
      return;
    }
    if (announce) std::cout << fmt::format("skiff.yaml is valid: {}\n", summary(*spec));
    then(*spec, *projectDir);
  });
  return command;
}

void addProjectCommands(CLI::App& app, CommandContext& context) {
  addSpecCommand(app, context, "validate",
                 "Check skiff.yaml and report every error with its file:line:column",
                 [](const spec::Spec&, const std::string&) {});
}

}  // namespace skiff::cli
