// skiff csi: the CSI driver that mounts blob storage into pods. `node` is
// the plugin each node runs; `install` and `uninstall` put the driver on a
// cluster and take it off.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.hpp"
#include "common/error.hpp"
#include "csi/install.hpp"
#include "csi/node_plugin.hpp"
#include "deploy/k8s/client.hpp"
#include "deploy/k8s/kubeconfig.hpp"
#include "deploy/k8s/render.hpp"
#include "image/build.hpp"
#include "serve/onnxruntime/library.hpp"

namespace skiff::cli {

namespace {

using nlohmann::json;
namespace k8s = deploy::k8s;

struct InstallCommandOptions {
  csi::InstallOptions install;
  std::string target = "k8s";
  std::string push;  // a repository to build skiff's image into
  bool dryRun = false;
  double timeoutSeconds = 180;
};

void requireKubernetes(const std::string& target) {
  if (target == "k8s") return;
  throw Error(fmt::format("the CSI driver runs on Kubernetes, not on the {} target", target),
              "--target", "use --target k8s (the local target mounts with `skiff mount` itself)");
}

k8s::KubeClient connect(const csi::InstallOptions& options) {
  return k8s::KubeClient(k8s::loadKubeconfig(), options.namespaceName);
}

// The image the DaemonSet runs: --image as given, or skiff's own image
// built and pushed to --push.
std::string pluginImage(const InstallCommandOptions& options) {
  if (!options.install.image.empty()) return options.install.image;
  if (options.push.empty()) {
    throw Error("no image for the node plugin", "skiff csi install",
                "give --image REF (an image with skiff at /usr/local/bin/skiff, such as the serve "
                "image `skiff build` makes), or --push REPOSITORY to build skiff's own there");
  }
  image::BuildOptions build;
  build.output = [](std::string_view line) { std::cerr << line << "\n"; };
  build.warn = [](std::string_view line) { std::cerr << "skiff: warning: " << line << "\n"; };
  build.quiet = true;
  return image::buildSkiffImage(
      options.push,
      image::ServeImageInputs{std::filesystem::read_symlink("/proc/self/exe"),
                              serve::ort::locateLibrary("")},
      build);
}

// Ready when every scheduled plugin pod is ready and has registered the
// driver with its node's kubelet (the node's CSINode lists it).
bool driverReady(k8s::KubeClient& client, std::string& state) {
  const auto daemonSet = client.get(client.resource("apps/v1", "DaemonSet"), "skiff-csi-node");
  if (!daemonSet) return false;
  const json status = daemonSet->value("status", json::object());
  const int wanted = status.value("desiredNumberScheduled", 0);
  const int ready = status.value("numberReady", 0);
  const int updated = status.value("updatedNumberScheduled", 0);
  state = fmt::format("{} of {} plugin pods ready", ready, wanted);
  if (wanted == 0 || ready < wanted || updated < wanted) return false;
  int registered = 0;
  for (const auto& node : client.listItems(client.resource("storage.k8s.io/v1", "CSINode"), "")) {
    for (const auto& driver : node["spec"].value("drivers", json::array())) {
      registered += driver.value("name", "") == csi::kDriverName;
    }
  }
  state = fmt::format("{} of {} plugin pods ready, {} registered with kubelet", ready, wanted,
                      registered);
  return registered >= wanted;
}

int install(InstallCommandOptions options) {
  requireKubernetes(options.target);
  if (options.dryRun && options.install.image.empty()) options.install.image = "IMAGE";
  if (!options.dryRun) options.install.image = pluginImage(options);
  const auto objects = csi::driverObjects(options.install);
  if (options.dryRun) {
    std::cout << k8s::toYaml(objects);
    return 0;
  }
  auto client = connect(options.install);
  for (const auto& object : objects) {
    const auto type = client.resource(object["apiVersion"], object["kind"]);
    const auto applied = client.apply(type, object, true);
    std::cout << fmt::format("{} {} {}\n", applied.created ? "created" : "applied",
                             object["kind"].get<std::string>(),
                             object["metadata"]["name"].get<std::string>());
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(long(options.timeoutSeconds * 1000));
  std::string state = "no plugin pod yet";
  while (!driverReady(client, state)) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw Error(
          fmt::format("the driver is not ready after {} s: {}", options.timeoutSeconds, state),
          options.install.namespaceName + "/daemonset/skiff-csi-node",
          "see `kubectl -n " + options.install.namespaceName +
              " describe pods -l app.kubernetes.io/name=skiff-csi-node` and the pods' logs");
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::cout << fmt::format("{} is installed ({}, image {})\n", csi::kDriverName, state,
                           options.install.image);
  return 0;
}

// Removes what install applied; mounts that pods still use keep serving
// until those pods go (the mount processes are no part of the plugin pods).
int uninstall(const InstallCommandOptions& options) {
  requireKubernetes(options.target);
  auto client = connect(options.install);
  auto objects = csi::driverObjects(options.install);
  for (auto object = objects.rbegin(); object != objects.rend(); ++object) {
    client.remove(client.resource((*object)["apiVersion"], (*object)["kind"]),
                  (*object)["metadata"]["name"]);
    std::cout << fmt::format("deleted {} {}\n", (*object)["kind"].get<std::string>(),
                             (*object)["metadata"]["name"].get<std::string>());
  }
  return 0;
}

void addInstallOptions(CLI::App* command, InstallCommandOptions& options) {
  command->add_option("--target", options.target, "Where the driver goes (k8s)")
      ->capture_default_str();
  command->add_option("--namespace", options.install.namespaceName, "The plugin's namespace")
      ->capture_default_str();
}

}  // namespace

void addCsiCommands(CLI::App& app, CommandContext& context) {
  CLI::App* csi = app.add_subcommand("csi", "skiff's CSI driver: blob storage in pods");
  csi->require_subcommand(1);

  auto options = std::make_shared<csi::NodePluginOptions>();
  CLI::App* node = csi->add_subcommand(
      "node", "Serve the CSI node plugin (what the driver's DaemonSet runs on each node)");
  node->add_option("--endpoint", options->endpoint, "unix:///PATH/csi.sock")->required();
  node->add_option("--node-id", options->nodeId, "This node's name")->required();
  node->add_option("--driver-name", options->driverName, "The CSI driver's name")
      ->capture_default_str();
  node->add_option("--registration-dir", options->registrationDir,
                   "kubelet's plugins_registry directory: register with kubelet there");
  node->add_option("--state-dir", options->stateDir, "The volumes' state and caches")
      ->capture_default_str();
  node->add_option("--mount-cgroup-root", options->mountCgroupRoot,
                   "The host's /sys/fs/cgroup as the plugin sees it: each mount moves to a cgroup "
                   "of its own there, out of the plugin container's");
  node->add_option("--api-server", options->apiServer,
                   "Where to post pod events (https://HOST:PORT); default: the in-cluster "
                   "Service's address, with the pod's service account either way");
  node->footer(
      "Each volume is a `skiff mount` in a session of its own: stopping or killing the plugin "
      "leaves the mounts serving, and a restarted plugin takes them over.");
  node->callback([options, &context, &app] {
    // A server's log is its record of what it did to each volume: info
    // unless the user chose a level.
    if (app.get_option("--log-level")->count() == 0) spdlog::set_level(spdlog::level::info);
    context.exitCode = csi::runNodePlugin(*options);
  });

  auto installOptions = std::make_shared<InstallCommandOptions>();
  CLI::App* installCommand = csi->add_subcommand(
      "install",
      "Install the driver on the cluster: its CSIDriver and the node plugin's DaemonSet");
  addInstallOptions(installCommand, *installOptions);
  installCommand->add_option("--image", installOptions->install.image,
                             "The image the plugin runs (skiff at /usr/local/bin/skiff)");
  installCommand->add_option("--push", installOptions->push,
                             "Build skiff's own image into this repository (e.g. "
                             "registry.example/skiff) and run that");
  installCommand
      ->add_option("--kubelet-dir", installOptions->install.kubeletDir,
                   "The nodes' kubelet root directory")
      ->capture_default_str();
  installCommand->add_option(
      "--api-server", installOptions->install.apiServer,
      "The API server as the nodes reach it, for the plugin's pod events (default: the "
      "kubernetes Service's address; give this on a cluster without kube-proxy)");
  installCommand
      ->add_option("--timeout", installOptions->timeoutSeconds,
                   "Seconds to wait for the plugin pods to register")
      ->capture_default_str();
  installCommand->add_flag("--dry-run", installOptions->dryRun,
                           "Print the objects instead of applying them");
  installCommand->callback(
      [installOptions, &context] { context.exitCode = install(*installOptions); });

  auto uninstallOptions = std::make_shared<InstallCommandOptions>();
  CLI::App* uninstallCommand =
      csi->add_subcommand("uninstall", "Remove the driver's objects from the cluster");
  addInstallOptions(uninstallCommand, *uninstallOptions);
  uninstallCommand->callback(
      [uninstallOptions, &context] { context.exitCode = uninstall(*uninstallOptions); });
}

}  // namespace skiff::cli
