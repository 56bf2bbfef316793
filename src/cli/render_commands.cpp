// `skiff render`: the exact objects `skiff release --target k8s` would apply,
// with secret values redacted unless asked for.

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "deploy/k8s/render.hpp"
#include "deploy/secrets.hpp"

namespace skiff::cli {

namespace {

struct RenderOptions {
  std::string target = "k8s";
  std::string format = "yaml";
  std::string secretsFile;
  bool showSecrets = false;
};

}  // namespace

void addRenderCommands(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<RenderOptions>();
  CLI::App* render = addSpecCommand(
      app, context, "render", "Print the Kubernetes objects a release would apply",
      [options](const spec::Spec& spec, const std::string& dir) {
        const auto secrets = deploy::resolveSecrets(spec, dir, options->secretsFile);
        const auto release = deploy::k8s::renderRelease(spec, deploy::k8s::builtImages(dir),
                                                        secrets, !options->showSecrets);
        std::cout << (options->format == "json" ? deploy::k8s::toJsonList(release.objects)
                                                : deploy::k8s::toYaml(release.objects));
      },
      false);
  render->add_option("--target", options->target, "What to render for (k8s)")
      ->check(CLI::IsMember({"k8s"}))
      ->capture_default_str();
  render->add_option("-o,--output", options->format, "yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}))
      ->capture_default_str();
  render->add_option("--secrets-file", options->secretsFile,
                     "YAML file with secret values: SECRET: {KEY: value}");
  render->add_flag("--show-secrets", options->showSecrets,
                   "Print secret values (base64) instead of <redacted>");
}

}  // namespace skiff::cli
