// Commands that act on a deployment target: release, status, logs, down.
// Each picks its target with --target (local, the default, or k8s) and hands
// the spec to deploy::Target.

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "cli/commands.hpp"
#include "cli/output_format.hpp"
#include "common/error.hpp"
#include "deploy/k8s/render.hpp"
#include "deploy/local/supervisor.hpp"
#include "deploy/target.hpp"
#include "image/build.hpp"

namespace skiff::cli {

void addTargetOptions(CLI::App& command, TargetChoice& choice) {
  command.add_option("--target", choice.target, "Where: local (this machine) or k8s (a cluster)")
      ->check(CLI::IsMember({"local", "k8s"}))
      ->capture_default_str();
  command.add_option("-n,--namespace", choice.namespaceName,
                     "k8s: the namespace (default: the kubeconfig context's)");
}

namespace {

// Adds a deploy command whose options live in an `Options` (a TargetOptions)
// and whose work is `run(target, spec, options)`.
template <typename Options, typename Run>
CLI::App* addDeployCommand(CLI::App& app, CommandContext& context, const char* name,
                           const char* description, std::shared_ptr<Options> options, Run run,
                           bool announce, const LeadingArgument& leading = {}) {
  auto choice = std::make_shared<TargetChoice>();
  CLI::App* command = addSpecCommand(
      app, context, name, description,
      [&context, choice, options, run](const spec::Spec& spec, const std::string& dir) {
        Options chosen = *options;
        chosen.projectDir = dir;
        chosen.namespaceName = choice->namespaceName;
        context.exitCode = run(*deploy::makeTarget(choice->target), spec, chosen);
      },
      announce, leading);
  addTargetOptions(*command, *choice);
  return command;
}

}  // namespace

void addDeployCommands(CLI::App& app, CommandContext& context) {
  auto release = std::make_shared<deploy::ReleaseOptions>();
  CLI::App* releaseCommand = addDeployCommand(
      app, context, "release", "Apply the project (skiff.yaml + secrets) to a target", release,
      [](deploy::Target& target, const spec::Spec& spec, const deploy::ReleaseOptions& options) {
        return target.release(spec, options);
      },
      true);
  releaseCommand->add_option("--secrets-file", release->secretsFile,
                             "YAML file with secret values: SECRET: {KEY: value}");
  releaseCommand->add_flag("--wait", release->wait,
                           "Wait for jobs to finish and services to be ready");
  releaseCommand->add_flag("--prune", release->prune, "Delete what left the spec");
  releaseCommand->add_flag("--force-conflicts", release->forceConflicts,
                           "k8s: take over fields another manager owns");
  releaseCommand
      ->add_option("--timeout", release->timeoutSeconds, "How long --wait waits (600, 10m, 1h)")
      ->transform(durationValidator())
      ->capture_default_str();

  // run = release --wait, after a build when the target runs images.
  auto run = std::make_shared<deploy::ReleaseOptions>();
  run->wait = true;
  run->rerunJobs = true;
  CLI::App* runCommand = addDeployCommand(
      app, context, "run",
      "Validate, build (k8s), release and wait: the whole workflow on the chosen target", run,
      [](deploy::Target& target, const spec::Spec& spec, const deploy::ReleaseOptions& options) {
        if (target.needsImage() && spec.image) {
          image::BuildOptions build;
          sendBuildOutputToStderr(build);
          requestDerivedImages(spec, build);
          const auto record = image::buildImage(options.projectDir, *spec.image, build);
          std::cout << "image " << record.reference() << "\n";
        }
        return target.release(spec, options);
      },
      true);
  runCommand->add_option("--secrets-file", run->secretsFile,
                         "YAML file with secret values: SECRET: {KEY: value}");
  runCommand
      ->add_option("--timeout", run->timeoutSeconds,
                   "How long to wait for jobs and services (600, 10m, 1h)")
      ->transform(durationValidator())
      ->capture_default_str();

  auto status = std::make_shared<deploy::StatusOptions>();
  auto statusFormat = std::make_shared<OutputFormat>();
  CLI::App* statusCommand = addDeployCommand(
      app, context, "status", "Show what runs: jobs, replicas, services, exit codes", status,
      [statusFormat](deploy::Target& target, const spec::Spec& spec,
                     const deploy::StatusOptions& options) {
        if (options.runs && target.needsImage()) {
          throw Error("--runs: the run history is kept by the local target only", {},
                      "drop --runs for the cluster's current state");
        }
        deploy::StatusOptions chosen = options;
        chosen.json = statusFormat->structured();
        // YAML is the targets' JSON re-emitted: one document, as kubectl -o yaml.
        return statusFormat->printFrom([&] { return target.status(spec, chosen); });
      },
      false);
  addOutputOptions(*statusCommand, *statusFormat, "What runs");
  statusCommand->add_flag("--runs", status->runs,
                          "local: every kept run, newest first (see also `skiff runs`)");

  auto logs = std::make_shared<deploy::LogsOptions>();
  CLI::App* logsCommand = addDeployCommand(
      app, context, "logs", "Print (or follow) the logs of a job, service or the notebook", logs,
      [](deploy::Target& target, const spec::Spec& spec, const deploy::LogsOptions& options) {
        return target.logs(spec, options);
      },
      false,
      LeadingArgument{[logs](CLI::App& command) {
                        command.add_option(
                            "NAME", logs->name,
                            "The job, service or notebook (default: all); a path (with '/') or "
                            "a directory with skiff.yaml is taken as DIR");
                      },
                      [logs]() -> std::optional<std::string> {
                        if (logs->name.empty() || !looksLikeProjectDir(logs->name))
                          return std::nullopt;
                        return std::exchange(logs->name, std::string());
                      }});
  logsCommand->add_option("--replica", logs->replica, "One replica, e.g. worker-1");
  logsCommand->add_flag("-f,--follow", logs->follow, "Keep printing new lines");

  auto proxy = std::make_shared<deploy::ProxyOptions>();
  CLI::App* proxyCommand = addDeployCommand(
      app, context, "proxy",
      "Forward a port on 127.0.0.1 to a service on the cluster (k8s), through the API server",
      proxy,
      [](deploy::Target& target, const spec::Spec& spec, const deploy::ProxyOptions& options) {
        return target.proxy(spec, options);
      },
      false,
      LeadingArgument{
          [proxy](CLI::App& command) {
            command.add_option("NAME", proxy->name, "The service (or notebook)")->required();
          },
          []() -> std::optional<std::string> { return std::nullopt; }});
  proxyCommand->add_option("--port", proxy->port, "The port on 127.0.0.1 (0: any free one)")
      ->capture_default_str();

  addDeployCommand(
      app, context, "down", "Stop everything the release started and clean up its mounts",
      std::make_shared<deploy::DownOptions>(),
      [](deploy::Target& target, const spec::Spec& spec, const deploy::DownOptions& options) {
        return target.down(spec, options);
      },
      false);

  // The local target's background supervisor; `skiff release` starts it.
  auto superviseDir = std::make_shared<std::string>();
  CLI::App* supervise = app.add_subcommand("__supervise", "");
  supervise->group("");  // hidden: not for people
  supervise->add_option("DIR", *superviseDir)->required();
  supervise->callback(
      [&context, superviseDir] { context.exitCode = deploy::local::runSupervisor(*superviseDir); });
}

}  // namespace skiff::cli
