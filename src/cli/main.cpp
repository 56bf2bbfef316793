#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>
#include <vector>

#include "cli/commands.hpp"
#include "cli/usage_check.hpp"
#include "common/error.hpp"
#include "common/text.hpp"
#include "skiff/version.hpp"

namespace {

// "skiff help [COMMAND]" is "skiff [COMMAND] --help".
std::vector<std::string> rewriteHelp(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "help") {
    args.erase(args.begin());
    args.push_back("--help");
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace skiff::cli;
  CLI::App app{
      "skiff: from a notebook to a served model on Kubernetes.\n"
      "Workflow: notebook -> Dockerfile + skiff.yaml -> build -> release -> monitor -> serve.",
      "skiff"};
  app.set_version_flag("--version", std::string("skiff ") + skiff::kVersion);
  app.require_subcommand(1);
  app.fallthrough();
  std::string logLevel = "warn";
  app.add_option("--log-level", logLevel, "Log detail: trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.parse_complete_callback([&] {
    auto logger = spdlog::stderr_color_mt("skiff");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(logLevel));
  });

  CommandContext context;
  addProjectCommands(app, context);
  addBlobCommands(app, context);
  addMountCommands(app, context);
  addBuildCommands(app, context);
  addDeployCommands(app, context);
  addServeCommands(app, context);
  addRenderCommands(app, context);
  addDashboardCommands(app, context);
  addCsiCommands(app, context);

  addVersionCommands(app, context);

  std::vector<std::string> args = rewriteHelp(argc, argv);
  if (const auto mistake = findUsageMistake(app, args)) {
    std::cerr << "skiff: " << *mistake << "\n";
    return kExitUsage;
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes arguments in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  } catch (const skiff::Error& e) {
    std::cerr << "skiff: error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const std::exception& e) {
    std::cerr << "skiff: internal error: " << e.what()
              << " (please report it with the command that caused it)\n";
    return kExitFailure;
  }
  return context.exitCode;
}
