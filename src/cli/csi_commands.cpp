// skiff csi node: the CSI node plugin that mounts blob storage into pods.

#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.hpp"
#include "csi/node_plugin.hpp"

namespace skiff::cli {

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
  node->footer(
      "Each volume is a `skiff mount` in a session of its own: stopping or killing the plugin "
      "leaves the mounts serving, and a restarted plugin takes them over.");
  node->callback([options, &context, &app] {
    // A server's log is its record of what it did to each volume: info
    // unless the user chose a level.
    if (app.get_option("--log-level")->count() == 0) spdlog::set_level(spdlog::level::info);
    context.exitCode = csi::runNodePlugin(*options);
  });
}

}  // namespace skiff::cli
