// skiff mount / skiff unmount: blob storage as a file system.

#include <memory>

#include "cli/commands.hpp"
#include "common/text.hpp"
#include "mount/fuse_adapter.hpp"

namespace skiff::cli {
namespace {

const CLI::Validator kDuration = durationValidator();
const CLI::Validator kByteSize = byteSizeValidator();

struct MountArguments {
  mount::MountOptions options;
  std::string cacheTimeout = "120";
  std::string cacheSize = "10Gi";
  std::string attrTimeout;
  std::string listTimeout;
  std::string configFile;
};

}  // namespace

void addMountCommands(CLI::App& app, CommandContext& context) {
  auto arguments = std::make_shared<MountArguments>();
  CLI::App* mountCommand = app.add_subcommand(
      "mount", "Mount blob storage (az://, file://) as a file system, with a local cache");
  auto& options = arguments->options;
  mountCommand->add_option("URI", options.uri, "az://ACCOUNT/CONTAINER[/PREFIX] or file:///PATH")
      ->required();
  mountCommand->add_option("MOUNTPOINT", options.mountPoint, "An existing empty directory")
      ->required();
  mountCommand->add_flag("--read-only", options.readOnly, "Reject writes (EROFS)");
  mountCommand->add_option("--cache-dir", options.cacheDir,
                           "Local cache (default /var/cache/skiff/mount-<id>)");
  mountCommand
      ->add_option("--cache-timeout", arguments->cacheTimeout,
                   "Serve cached data this long without asking the store")
      ->check(kDuration)
      ->capture_default_str();
  mountCommand->add_option("--cache-size", arguments->cacheSize, "Cache size limit")
      ->check(kByteSize)
      ->capture_default_str();
  mountCommand
      ->add_option("--attr-timeout", arguments->attrTimeout,
                   "Attribute cache (default: the cache timeout)")
      ->check(kDuration);
  mountCommand
      ->add_option("--list-timeout", arguments->listTimeout,
                   "Directory listing cache (default: the cache timeout)")
      ->check(kDuration);
  mountCommand->add_flag("--allow-other", options.allowOther, "Let other users see the mount");
  mountCommand->add_flag("-f,--foreground", options.foreground, "Stay in the foreground");
  mountCommand->add_option("--log-file", options.logFile,
                           "Log file, or \"syslog\" (default: CACHE_DIR/mount.log)");
  mountCommand->add_option("--log-level", options.logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  mountCommand->add_option("--config", arguments->configFile,
                           "Read these options from a file of `key = value` lines");
  mountCommand->footer(
      "Credentials for az:// come from the environment, as for `skiff blob`.\n"
      "Unmount with `skiff unmount MOUNTPOINT`.");
  mountCommand->callback([arguments, mountCommand, &context] {
    if (!arguments->configFile.empty()) applyConfigFile(*mountCommand, arguments->configFile);
    auto& chosen = arguments->options;
    chosen.cacheTimeoutSeconds = *parseDurationSeconds(arguments->cacheTimeout);
    chosen.cacheSizeBytes = *parseByteSize(arguments->cacheSize);
    if (!arguments->attrTimeout.empty()) {
      chosen.attrTimeoutSeconds = *parseDurationSeconds(arguments->attrTimeout);
    }
    if (!arguments->listTimeout.empty()) {
      chosen.listTimeoutSeconds = *parseDurationSeconds(arguments->listTimeout);
    }
    context.exitCode = mount::runMount(chosen);
  });

  auto mountPoint = std::make_shared<std::string>();
  CLI::App* unmountCommand = app.add_subcommand("unmount", "Unmount a skiff mount");
  unmountCommand->add_option("MOUNTPOINT", *mountPoint, "Where it is mounted")->required();
  unmountCommand->callback([mountPoint] { mount::unmount(*mountPoint); });
}

}  // namespace skiff::cli
