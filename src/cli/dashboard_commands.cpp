// `skiff dashboard` and `skiff runs`: watching the local target's runs.

#include <iostream>

#include "cli/commands.hpp"
#include "cli/output_format.hpp"
#include "dashboard/dashboard.hpp"
#include "deploy/local/state.hpp"
#include "deploy/local/status_view.hpp"

namespace skiff::cli {

namespace {

struct RunsOptions {
  std::string name;
  std::string status;
  int64_t release = 0;
  size_t limit = 50;
  OutputFormat format;
};

}  // namespace

void addDashboardCommands(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<dashboard::DashboardOptions>();
  auto choice = std::make_shared<TargetChoice>();
  CLI::App* command = addSpecCommand(
      app, context, "dashboard",
      "Serve a web page of the project: what runs and why it waits, the run history, metric "
      "charts, logs and served models (--target k8s: the release on the cluster)",
      [&context, options, choice](const spec::Spec& spec, const std::string& projectDir) {
        if (choice->target == "k8s") {
          context.exitCode =
              dashboard::runDashboard(dashboard::makeK8sSource(spec, choice->namespaceName),
                                      spec.name + " on the kubeconfig's cluster", *options);
        } else {
          context.exitCode =
              dashboard::runDashboard(dashboard::makeLocalSource(projectDir), projectDir, *options);
        }
      },
      false);
  addTargetOptions(*command, *choice);
  command->add_option("--port", options->port, "Port to listen on (0: any free port)")
      ->default_val(8080)
      ->check(CLI::Range(0, 65535));
  command->add_option("--host", options->host, "Address to listen on")->default_val("127.0.0.1");

  auto runs = std::make_shared<RunsOptions>();
  CLI::App* runsCommand = addSpecCommand(
      app, context, "runs",
      "List the run history of the local target: every kept run of every job and service, "
      "newest first, with outcome, exit code or signal, restarts and what it wrote",
      [&context, runs](const spec::Spec&, const std::string& projectDir) {
        deploy::local::StateDb state(projectDir);
        deploy::local::RunFilter filter;
        filter.name = runs->name;
        filter.status = runs->status;
        if (runs->release > 0) filter.release = runs->release;
        filter.limit = runs->limit;
        if (runs->format.structured()) {
          runs->format.print(deploy::local::historyJson(state, filter));
        } else {
          std::cout << deploy::local::historyTable(state, filter);
        }
        context.exitCode = kExitOk;
      },
      false);
  runsCommand->add_option("--name", runs->name, "Only the runs of this job or service");
  runsCommand->add_option("--status", runs->status, "Only runs with this status (Failed, ...)");
  runsCommand->add_option("--release", runs->release, "Only the runs of this release")
      ->check(CLI::PositiveNumber);
  runsCommand->add_option("--limit", runs->limit, "At most this many runs")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  addOutputOptions(*runsCommand, runs->format, "The runs");
}

}  // namespace skiff::cli
