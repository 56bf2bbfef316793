// `skiff render`: the exact objects `skiff release --target k8s` would apply,
// with secret values redacted unless asked for.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "common/error.hpp"
#include "deploy/k8s/render.hpp"
#include "deploy/secrets.hpp"
#include "image/build.hpp"
#include "image/tags.hpp"
#include "spec/parse.hpp"

namespace skiff::cli {

namespace {

struct RenderOptions {
  std::string target = "k8s";
  std::string format = "yaml";
  std::string secretsFile;
  bool showSecrets = false;
  std::string image;  // --image: instead of the build record's
};

// The images to render: the build record's when there is one (what a release
// deploys, by digest). Before the first `skiff build`, as `helm template` and
// `skaffold render --digest-source=tag` do, the image by the tag the policy
// would give it now (or --image), saying so on stderr.
deploy::k8s::Images imagesFor(const spec::Spec& spec, const std::string& dir,
                              const RenderOptions& options) {
  const bool recorded = std::filesystem::exists(image::recordPath(dir));
  if (!options.image.empty()) {
    auto images = recorded ? deploy::k8s::builtImages(dir) : deploy::k8s::Images{""};
    images.project = options.image;
    return images;
  }
  if (recorded) return deploy::k8s::builtImages(dir);
  if (!spec.image) {
    throw Error("nothing to render the project's image from: no build record and no image section",
                (std::filesystem::path(dir) / spec::kSpecFileName).string(),
                "add image: {repository: REGISTRY/NAME} to skiff.yaml (see docs/skiff-yaml.md), "
                "or pass --image REFERENCE");
  }
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    const std::string text = *entry;
    const auto eq = text.find('=');
    if (eq != std::string::npos) env[text.substr(0, eq)] = text.substr(eq + 1);
  }
  std::string tag = "latest";
  try {
    image::TagInputs inputs{
        spec.image->tags, {}, image::probeGit(dir), env, std::chrono::system_clock::now(),
        "sha256:unbuilt"};
    const auto tags = image::resolveTags(inputs);
    if (!tags.tags.empty()) tag = tags.tags.front();
  } catch (const Error&) {
    // The policy needs a build to resolve (e.g. a build number): "latest" stands in.
  }
  const std::string reference = spec.image->repository + ":" + tag;
  std::cerr << "skiff: warning: no build record (" << image::recordPath(dir).string()
            << "): rendering the image as " << reference
            << " from the tag policy; `skiff build` records the digest a release pins (or pass "
               "--image)\n";
  return {reference, spec.image->repository + ":skiff-serve"};
}

}  // namespace

void addRenderCommands(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<RenderOptions>();
  CLI::App* render = addSpecCommand(
      app, context, "render", "Print the Kubernetes objects a release would apply",
      [options](const spec::Spec& spec, const std::string& dir) {
        const auto secrets = deploy::resolveSecrets(spec, dir, options->secretsFile);
        const auto release = deploy::k8s::renderRelease(spec, imagesFor(spec, dir, *options),
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
  render->add_option("--image", options->image,
                     "The project's image reference to render (default: the build record's; "
                     "without one, repository:TAG from the tag policy)");
  render->add_flag("--show-secrets", options->showSecrets,
                   "Print secret values (base64) instead of <redacted>");
}

}  // namespace skiff::cli
