// `skiff dashboard`: the local target's web dashboard.

#include "cli/commands.hpp"
#include "dashboard/dashboard.hpp"

namespace skiff::cli {

void addDashboardCommands(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<dashboard::DashboardOptions>();
  CLI::App* command = addSpecCommand(
      app, context, "dashboard",
      "Serve a web page of the project's runs, metric plots, logs and served model versions "
      "(local target)",
      [&context, options](const spec::Spec&, const std::string& projectDir) {
        context.exitCode = dashboard::runDashboard(projectDir, *options);
      },
      false);
  command->add_option("--port", options->port, "Port to listen on (0: any free port)")
      ->default_val(8080)
      ->check(CLI::Range(0, 65535));
  command->add_option("--host", options->host, "Address to listen on")->default_val("127.0.0.1");
}

}  // namespace skiff::cli
