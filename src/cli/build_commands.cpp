// skiff build: the project's Dockerfile to an image in its registry, tagged by
// the tag policy. The work is in src/image; this file is options and output.

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/output_format.hpp"
#include "common/error.hpp"
#include "image/build.hpp"
#include "image/builder.hpp"
#include "serve/onnxruntime/library.hpp"
#include "spec/parse.hpp"

namespace skiff::cli {

void sendBuildOutputToStderr(image::BuildOptions& build) {
  build.output = [](std::string_view line) { std::cerr << line << "\n"; };
  build.warn = [](std::string_view line) { std::cerr << "skiff: warning: " << line << "\n"; };
}
void requestDerivedImages(const spec::Spec& spec, image::BuildOptions& build) {
  build.notebookImage = spec.notebook && spec.notebook->command.empty();
  const bool needed =
      std::any_of(spec.services.begin(), spec.services.end(), [](const auto& entry) {
        return entry.second.kind == spec::ServiceKind::kServe && entry.second.image.empty();
      });
  if (!needed) return;
  build.serveImage = image::ServeImageInputs{std::filesystem::read_symlink("/proc/self/exe"),
                                             serve::ort::locateLibrary("")};
}

namespace {

struct BuildCommandOptions {
  std::string projectDir = ".";
  bool push = true;
  std::vector<std::string> tags;
  std::string builder = "auto";
  bool insecureRegistry = false;
  bool force = false;
  OutputFormat format;
  bool quiet = false;
};

void printSummary(const image::BuildRecord& record) {
  std::cout << fmt::format("{} {} ({}, {:.1f} s)\n", record.skipped ? "reused" : "built",
                           record.reference(), record.builder, record.seconds);
  if (!record.serveImage.empty()) std::cout << "  serve image " << record.serveImage << "\n";
  for (const auto& tag : record.tags) {
    std::cout << fmt::format("  {}:{}{}\n", record.repository, tag,
                             record.pushed ? "" : " (local only)");
  }
}

void runBuild(const BuildCommandOptions& options, CommandContext& context) {
  spec::ParseResult parsed = spec::loadProject(options.projectDir);
  for (const auto& diagnostic : parsed.diagnostics) std::cerr << diagnostic.format() << "\n";
  if (!parsed.ok()) {
    context.exitCode = kExitFailure;
    return;
  }
  if (!parsed.spec->image) {
    throw skiff::Error("the project has no image section", options.projectDir + "/skiff.yaml",
                       "add image: with at least repository: (see docs/skiff-yaml.md)");
  }
  image::BuildOptions build;
  build.push = options.push;
  build.extraTags = options.tags;
  build.builder = options.builder;
  build.insecureRegistry = options.insecureRegistry;
  build.force = options.force;
  sendBuildOutputToStderr(build);  // stdout carries only the result (--json for CI)
  build.quiet = options.quiet;
  requestDerivedImages(*parsed.spec, build);
  const image::BuildRecord record =
      image::buildImage(options.projectDir, *parsed.spec->image, build);
  if (options.format.structured()) {
    options.format.print(nlohmann::json::parse(record.toJson()));
  } else {
    printSummary(record);
  }
}

}  // namespace

void addBuildCommands(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<BuildCommandOptions>();
  CLI::App* build = app.add_subcommand(
      "build", "Build the project's image from its Dockerfile and push it with build tags");
  addProjectDirArgument(*build, options->projectDir);
  build->add_flag("--push,!--no-push", options->push,
                  "Push to the registry in image.repository (default), or only build locally");
  build->add_option("--tag", options->tags, "An extra tag, on top of the image.tags policy")
      ->allow_extra_args(false);
  build->add_option("--builder", options->builder, "Which tool builds")
      ->check(CLI::IsMember(image::kBuilderNames))
      ->capture_default_str();
  build->add_flag("--insecure-registry", options->insecureRegistry,
                  "The registry speaks plain HTTP or has an unverifiable certificate (implied for "
                  "localhost and 127.0.0.0/8)");
  build->add_flag("--force", options->force,
                  "Build even when nothing changed since the last build");
  addOutputOptions(*build, options->format, "The build record (for CI)");
  build->add_flag("--quiet,-q", options->quiet, "Do not stream the build output");
  build->footer(
      "Credentials come from SKIFF_REGISTRY_USERNAME/SKIFF_REGISTRY_PASSWORD, REGISTRY_AUTH_FILE "
      "or ~/.docker/config.json, never from the command line. See docs/build.md.");
  build->callback([&context, options] { runBuild(*options, context); });
}

}  // namespace skiff::cli
