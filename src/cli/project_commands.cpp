// Commands that act on a project directory: validate (the others build on addSpecCommand).

#include <fmt/format.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/output_format.hpp"
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

bool looksLikeProjectDir(const std::string& word) {
  return word.find('/') != std::string::npos || word == "." || word == ".." ||
         std::filesystem::is_regular_file(std::filesystem::path(word) / "skiff.yaml");
}

CLI::App* addSpecCommand(CLI::App& app, CommandContext& context, const char* name,
                         const char* description, SpecAction then, bool announce,
                         const LeadingArgument& leading) {
  auto projectDir = std::make_shared<std::string>(".");
  CLI::App* command = app.add_subcommand(name, description);
  if (leading.add) leading.add(*command);
  addProjectDirArgument(*command, *projectDir);
  CLI::Option* dirOption = command->get_option("DIR");
  command->callback([&context, projectDir, then = std::move(then), announce, dirOption,
                     take = leading.takeAsProject] {
    // `skiff logs examples/iris`: the one positional is the project, not a name.
    if (take && dirOption->count() == 0) {
      if (auto dir = take()) *projectDir = *dir;
    }
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
  auto projectDir = std::make_shared<std::string>(".");
  auto format = std::make_shared<OutputFormat>();
  CLI::App* validate = app.add_subcommand(
      "validate", "Check skiff.yaml and report every error with its file:line:column");
  addProjectDirArgument(*validate, *projectDir);
  addOutputOptions(*validate, *format, "The result, errors as objects,");
  validate->callback([&context, projectDir, format] {
    if (!format->structured()) {
      const auto spec = loadAndReport(*projectDir);
      if (spec) std::cout << fmt::format("skiff.yaml is valid: {}\n", summary(*spec));
      context.exitCode = spec ? kExitOk : kExitFailure;
      return;
    }
    // For editors and CI annotations: each error where it is, as an object.
    const spec::ParseResult result = spec::loadProject(*projectDir);
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& diagnostic : result.diagnostics) {
      errors.push_back({{"file", diagnostic.file},
                        {"line", diagnostic.line},
                        {"column", diagnostic.column},
                        {"path", diagnostic.path},
                        {"problem", diagnostic.problem},
                        {"expected", diagnostic.expected},
                        {"message", diagnostic.format()}});
    }
    nlohmann::json report = {
        {"valid", result.ok()},
        {"file",
         (std::filesystem::path(*projectDir) / spec::kSpecFileName).lexically_normal().string()},
        {"errors", errors}};
    if (result.spec) report["summary"] = summary(*result.spec);
    format->print(report);
    context.exitCode = result.ok() ? kExitOk : kExitFailure;
  });
}

}  // namespace skiff::cli
