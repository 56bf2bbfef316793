// Commands that act on a project directory: validate, run.

#include <fmt/format.h>

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

std::string plural(size_t count, const char* noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
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
                     plural(spec.storage.size(), "storage entry"),
                     spec.notebook ? ", a notebook" : "");
}

}  // namespace

void addProjectCommands(CLI::App& app, CommandContext& context) {
  auto validateDir = std::make_shared<std::string>(".");
  CLI::App* validate = app.add_subcommand(
      "validate", "Check skiff.yaml and report every error with its file:line:column");
  addProjectDirArgument(*validate, *validateDir);
  validate->callback([&context, validateDir] {
    const auto spec = loadAndReport(*validateDir);
    if (!spec) {
      context.exitCode = kExitFailure;
      return;
    }
    std::cout << fmt::format("skiff.yaml is valid: {}\n", summary(*spec));
  });

  auto runDir = std::make_shared<std::string>(".");
  CLI::App* run = app.add_subcommand(
      "run", "Validate, build, release and wait: the whole workflow on the chosen target");
  addProjectDirArgument(*run, *runDir);
  run->callback([&context, runDir] {
    const auto spec = loadAndReport(*runDir);
    if (!spec) {
      context.exitCode = kExitFailure;
      return;
    }
    std::cout << fmt::format("skiff.yaml is valid: {}\n", summary(*spec));
    std::cout << "The local target that builds, releases and serves this project is coming in a "
                 "later change; today `skiff run` stops after validation.\n";
  });
}

}  // namespace skiff::cli
