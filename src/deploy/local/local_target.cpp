// The local (embedded) target: runs the project on this machine through a
// per-project supervisor (supervisor.hpp), and reads what it recorded.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/error.hpp"
#include "common/progress.hpp"
#include "common/subprocess.hpp"
#include "common/text.hpp"
#include "deploy/local/cleanup.hpp"
#include "deploy/local/control.hpp"
#include "deploy/local/gpus.hpp"
#include "deploy/local/plan.hpp"
#include "deploy/local/state.hpp"
#include "deploy/local/status_view.hpp"
#include "deploy/target.hpp"

extern char** environ;

namespace skiff::deploy {

namespace fs = std::filesystem;
using namespace local;

namespace {

std::string selfExe() {
  return fs::read_symlink("/proc/self/exe");
}

// The variables of the releasing shell the supervisor keeps, and with it
// every job (as on Kubernetes, a job gets what skiff.yaml gives it): the
// shell's tokens and keys stay behind. Secrets and storage credentials reach
// what needs them through the plan.
bool keptVariable(std::string_view name) {
  static const std::string_view kKept[] = {"PATH",
                                           "HOME",
                                           "USER",
                                           "LOGNAME",
                                           "SHELL",
                                           "LANG",
                                           "LANGUAGE",
                                           "TZ",
                                           "TMPDIR",
                                           "SKIFF_BLOB_BLOCK_SIZE",
                                           "SKIFF_BLOB_CONCURRENCY",
                                           "SKIFF_BLOB_RETRIES",
                                           "SKIFF_BLOB_STALL_TIMEOUT",
                                           "SKIFF_MAX_CONNECTIONS"};
  return name.rfind("LC_", 0) == 0 ||
         std::find(std::begin(kKept), std::end(kKept), name) != std::end(kKept);
}

std::vector<std::string> supervisorEnvironment() {
  std::vector<std::string> kept;
  for (char** entry = environ; *entry; ++entry) {
    const std::string_view item(*entry);
    if (keptVariable(item.substr(0, item.find('=')))) kept.emplace_back(item);
  }
  return kept;
}

// Starts `skiff __supervise DIR` detached from us (its own session, output
// to DIR/.skiff/supervisor.log, only the environment above) and waits for
// its socket.
void startSupervisor(const fs::path& projectDir) {
  const fs::path log = projectDir / ".skiff" / "supervisor.log";
  const std::string exe = selfExe();
  const std::string dir = fs::absolute(projectDir);
  fs::create_directories(log.parent_path());
  startDetached({.argv = {exe, "__supervise", dir},
                 .env = supervisorEnvironment(),
                 .output = log,
                 .appendOutput = true,
                 .description = "the local supervisor"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (std::chrono::steady_clock::now() < deadline) {
    if (sendControlRequest(projectDir, {{"op", "ping"}}, std::chrono::seconds(10))) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw Error("the local supervisor did not start", log.string(), "see its log");
}

// Sends a request to the project's supervisor, starting one when none runs.
nlohmann::json askSupervisor(const fs::path& projectDir, const nlohmann::json& request) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto reply = sendControlRequest(projectDir, request, std::chrono::seconds(300))) {
      return *reply;
    }
    startSupervisor(projectDir);
  }
  throw Error("the local supervisor does not answer", controlSocketPath(projectDir).string(),
              "see DIR/.skiff/supervisor.log; `skiff down` cleans up");
}

void reportCleanup(StateDb& state) {
  for (const auto& line : cleanUpAfterCrash(state)) std::cerr << "skiff: " << line << "\n";
}

bool isJobDone(const RunRecord& run) {
  return run.ended != 0;
}

// A service that keeps crashing will not get ready by waiting longer.
constexpr int kCrashLoopRestarts = 3;

bool isCrashLooping(StateDb& state, const RunRecord& run) {
  if (run.status != "Restarting") return false;
  int restarts = 0;
  for (const auto& replica : state.replicas(run.id)) restarts += replica.restarts;
  return restarts >= kCrashLoopRestarts;
}

bool isSettled(StateDb& state, const RunRecord& run, bool service) {
  return isJobDone(run) || (service && (run.status == "Ready" || isCrashLooping(state, run)));
}

// Waits until every job of the release ended and every service is ready,
// showing progress; returns the exit code.
int waitForRelease(StateDb& state, const std::vector<std::pair<std::string, bool>>& units,
                   double timeoutSeconds) {
  const bool live = ProgressBar::stderrIsTerminal();
  const auto start = std::chrono::steady_clock::now();
  std::map<std::string, std::string> shown;
  for (;;) {
    bool settled = true;
    std::string line;
    for (const auto& [name, service] : units) {
      const auto run = state.latestRun(name);
      const std::string status = run ? run->status : "Pending";
      settled = settled && run && isSettled(state, *run, service);
      line += fmt::format("{}{} {}", line.empty() ? "" : "  ", name, status);
      if (!live && shown[name] != status) std::cerr << fmt::format("{}: {}\n", name, status);
      shown[name] = status;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (live) std::cerr << fmt::format("\r\033[K{}  ({:.0f}s)", line, elapsed) << std::flush;
    if (settled) break;
    if (elapsed > timeoutSeconds) {
      if (live) std::cerr << "\n";
      throw Error(fmt::format("the release did not settle within {:.0f}s", timeoutSeconds), {},
                  "see `skiff status` and `skiff logs NAME`; raise --timeout for long jobs");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (live) std::cerr << "\n";
  int exitCode = 0;
  for (const auto& [name, service] : units) {
    const auto run = state.latestRun(name);
    if (run->status != "Succeeded" && run->status != "Ready") exitCode = 1;
  }
  return exitCode;
}

// The last lines of every replica of a failed run, for the release summary.
void printFailure(StateDb& state, const RunRecord& run) {
  std::cout << fmt::format("{} {}: {}\n", run.name, run.status, run.message);
  for (const auto& replica : state.replicas(run.id)) {
    const auto last = lastLines(replica.logPath, 10);
    if (last.empty()) continue;
    std::cout << fmt::format("  last lines of {}/{}:\n", run.name, replica.replica);
    for (const auto& line : last) std::cout << "    " << line << "\n";
  }
}

class LocalTarget : public Target {
 public:
  int release(const spec::Spec& spec, const ReleaseOptions& options) override {
    StateDb state(options.projectDir);
    reportCleanup(state);
    const auto secrets = resolveSecrets(spec, options.projectDir, options.secretsFile);
    const LocalPlan plan = planRelease(spec, options.projectDir, secrets,
                                       {selfExe(), true, gpuSettingsFromEnvironment()});
    for (const auto& warning : plan.warnings) std::cerr << "skiff: warning: " << warning << "\n";
    const auto reply = askSupervisor(options.projectDir, {{"op", "release"}, {"plan", plan}});
    if (!reply.value("ok", false)) {
      throw Error(redact(reply.value("error", "the release failed"), secrets), {},
                  "see DIR/.skiff/supervisor.log");
    }
    const int64_t releaseId = reply.at("release").get<int64_t>();
    const auto kept = reply.at("kept").get<std::vector<std::string>>();
    std::cout << fmt::format("release {}: ", releaseId);
    std::vector<std::pair<std::string, bool>> units;
    for (const auto& unit : plan.units) {
      const bool isKept = std::find(kept.begin(), kept.end(), unit.name) != kept.end();
      std::cout << fmt::format("{}{} {}{}", units.empty() ? "" : ", ", unit.kind, unit.name,
                               isKept ? " (unchanged, kept running)" : "");
      units.emplace_back(unit.name, unit.service);
    }
    std::cout << "\n";
    if (!options.wait) {
      std::cout << "follow it with `skiff status` and `skiff logs NAME`\n";
      return 0;
    }
    const int exitCode = waitForRelease(state, units, options.timeoutSeconds);
    for (const auto& [name, service] : units) {
      const auto run = state.latestRun(name);
      if (run->status == "Succeeded" || run->status == "Ready") {
        std::cout << describeOutcome(state, *run) << "\n";
      } else {
        printFailure(state, *run);
      }
    }
    return exitCode;
  }

  int status(const spec::Spec&, const StatusOptions& options) override {
    StateDb state(options.projectDir);
    reportCleanup(state);
    if (options.runs) {
      std::cout << (options.json ? historyJson(state, {}).dump(2) + "\n" : historyTable(state, {}));
    } else {
      const ServedByService served = askModelServers(state);
      std::cout << (options.json ? statusJson(state, served).dump(2) + "\n"
                                 : statusTable(state, served));
    }
    return 0;
  }

  int logs(const spec::Spec& spec, const LogsOptions& options) override {
    StateDb state(options.projectDir);
    std::vector<RunRecord> runs;
    if (options.name.empty()) {
      runs = state.latestRuns();
    } else if (auto run = state.latestRun(options.name)) {
      runs.push_back(*run);
    } else {
      std::vector<std::string> names;
      for (const auto& [name, job] : spec.jobs) names.push_back(name);
      for (const auto& [name, service] : spec.services) names.push_back(name);
      if (spec.notebook) names.push_back("notebook");
      const auto guess = closestMatch(options.name, names);
      const std::string known =
          names.empty() ? "" : fmt::format("; the names: {}", fmt::join(names, ", "));
      throw Error(fmt::format("nothing named \"{}\" has run here", options.name),
                  (options.projectDir / "skiff.yaml").string(),
                  (guess ? fmt::format("did you mean \"{}\"?", *guess)
                         : std::string("`skiff status` lists what ran")) +
                      known);
    }
    return printLogs(state, runs, options);
  }

  int proxy(const spec::Spec& spec, const ProxyOptions& options) override {
    const auto service = spec.services.find(options.name);
    const int port = service != spec.services.end()                ? service->second.port
                     : options.name == "notebook" && spec.notebook ? spec.notebook->port
                                                                   : 0;
    throw Error("the local target needs no proxy: its services listen on this machine",
                "skiff proxy " + options.name,
                port != 0 ? fmt::format("use http://127.0.0.1:{}/", port)
                          : "see `skiff status` for their addresses");
  }

  int down(const spec::Spec&, const DownOptions& options) override {
    StateDb state(options.projectDir);
    const int supervisor = state.supervisorPid();
    if (supervisor != 0 && isAlive(supervisor)) {
      sendControlRequest(options.projectDir, {{"op", "down"}}, std::chrono::seconds(300));
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (isAlive(supervisor) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    reportCleanup(state);
    const auto left = state.mounts();
    for (const auto& mount : left)
      std::cerr << "skiff: still mounted: " << mount.mountpoint << "\n";
    std::cout << (left.empty() ? "down: nothing of this project runs here now\n"
                               : "down: some mounts could not be removed\n");
    return left.empty() ? 0 : 1;
  }

 private:
  static int printLogs(StateDb& state, const std::vector<RunRecord>& runs,
                       const LogsOptions& options) {
    struct Source {
      int64_t runId;
      std::string prefix;
      std::string path;
      std::streamoff offset = 0;
    };
    std::vector<Source> sources;
    for (const auto& run : runs) {
      for (const auto& replica : state.replicas(run.id)) {
        if (!options.replica.empty() && replica.replica != options.replica) continue;
        sources.push_back(
            {run.id, fmt::format("[{}/{}] ", run.name, replica.replica), replica.logPath});
      }
    }
    if (sources.empty() && !options.replica.empty()) {
      throw Error(fmt::format("no replica \"{}\"", options.replica), {},
                  "`skiff status` lists the replicas of each run");
    }
    const bool prefixed = sources.size() > 1;
    for (;;) {
      for (auto& source : sources) {
        std::ifstream in(source.path);
        in.seekg(source.offset);
        for (std::string line; std::getline(in, line);) {
          if (in.eof()) break;  // a partial line: print it once it is whole
          std::cout << (prefixed ? source.prefix : "") << line << "\n";
          source.offset = in.tellg();
        }
      }
      std::cout << std::flush;
      if (!options.follow) return 0;
      const bool running = std::any_of(sources.begin(), sources.end(), [&](const Source& s) {
        const auto run = state.run(s.runId);
        return run && run->ended == 0;
      });
      if (!running) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
};

}  // namespace

std::unique_ptr<Target> makeLocalTarget() {
  return std::make_unique<LocalTarget>();
}

}  // namespace skiff::deploy
