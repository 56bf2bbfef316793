#include "deploy/local/supervisor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <thread>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/net.hpp"
#include "common/subprocess.hpp"
#include "deploy/local/cleanup.hpp"
#include "deploy/local/control.hpp"
#include "deploy/local/metrics.hpp"
#include "deploy/local/plan.hpp"
#include "deploy/local/state.hpp"
#include "deploy/local/status_view.hpp"
#include "deploy/secrets.hpp"

namespace skiff::deploy::local {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::atomic<bool> stopRequested{false};

void onStopSignal(int) {
  stopRequested = true;
}

// At most this many metric values per run are recorded (the rest are
// counted and dropped), so a job that prints metrics in a tight loop cannot
// grow the history without bound.
constexpr int64_t kMaxMetricValuesPerRun = 100000;

// Where a run's reported artifacts lie, shared by its replicas' sinks.
struct ArtifactPlaces {
  std::vector<StorageRoot> roots;
  std::map<std::string, std::string> modelRepositories;  // serve -> URI
};

// Where one replica's output goes: its log file, with secret values
// redacted, and `skiff:metric` and `skiff:artifact` lines into the state
// database.
struct LogSink {
  std::shared_ptr<StateDb> state;
  int64_t runId = 0;
  std::string replica;
  std::vector<std::string> secrets;
  std::ofstream file;
  std::shared_ptr<const ArtifactPlaces> places;
  std::shared_ptr<std::atomic<int64_t>> metricValues;  // of the whole run

  void line(const std::string& raw) {
    const std::string text = redactValues(raw, secrets);
    file << text << '\n';
    for (const auto& metric : parseMetricLine(text)) {
      if (++*metricValues == kMaxMetricValuesPerRun + 1) {
        file << fmt::format("skiff: more than {} metric values: the rest are not recorded\n",
                            kMaxMetricValuesPerRun);
      }
      if (*metricValues > kMaxMetricValuesPerRun) continue;
      state->addMetric({runId, replica, metric.name, metric.value, metric.step, nowSeconds()});
    }
    if (auto path = parseArtifactLine(text)) addArtifact(*path);
    file.flush();
  }

  void addArtifact(const std::string& path) {
    ArtifactRecord artifact;
    artifact.runId = runId;
    artifact.replica = replica;
    artifact.path = path;
    artifact.uri = artifactUri(path, places->roots);
    artifact.time = nowSeconds();
    for (const auto& [server, repository] : places->modelRepositories) {
      if (auto version = modelVersionOf(artifact.uri, repository)) {
        artifact.server = server;
        std::tie(artifact.model, artifact.version) = *version;
        break;
      }
    }
    state->addArtifact(artifact);
  }
};

// Reads a replica's output until every process holding the pipe is gone.
// Detached: it owns its sink and the read end.
void pumpOutput(int fd, std::shared_ptr<LogSink> sink) {
  std::string pending;
  char buffer[16384];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    pending.append(buffer, static_cast<size_t>(got));
    for (auto newline = pending.find('\n'); newline != std::string::npos;
         newline = pending.find('\n')) {
      sink->line(pending.substr(0, newline));
      pending.erase(0, newline + 1);
    }
  }
  if (!pending.empty()) sink->line(pending);
  ::close(fd);
}

// True when 127.0.0.1:port accepts a connection and, with a path, answers
// GET path with 200.
bool probe(int port, const std::string& path) {
  const int fd = connectLoopback(port, 1);
  if (fd < 0) return false;
  bool ok = true;
  if (!path.empty()) {
    const std::string request =
        fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    char status[32] = {};
    ok = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
             static_cast<ssize_t>(request.size()) &&
         ::recv(fd, status, sizeof status - 1, MSG_WAITALL) >= 12 &&
         std::string_view(status).substr(9, 3) == "200";
  }
  ::close(fd);
  return ok;
}

struct Replica {
  ProcessPlan plan;
  ReplicaRecord record;
  std::unique_ptr<Subprocess> process;
  std::optional<Clock::time_point> restartAt;
  Clock::time_point startedAt;
  std::optional<GpuLease> gpus;  // held while the process runs
};

struct Unit {
  UnitPlan plan;
  RunRecord run;
  std::list<Replica> replicas;
  int failures = 0;  // jobs: failed attempts so far
  std::shared_ptr<const ArtifactPlaces> places;
  std::shared_ptr<std::atomic<int64_t>> metricValues = std::make_shared<std::atomic<int64_t>>(0);
  milliseconds backoff{1000};
  bool finished = false;
  bool ready = false;
  Clock::time_point nextProbe;
};

struct Mount {
  MountPlan plan;
  std::unique_ptr<Subprocess> process;
};

constexpr milliseconds kMaxBackoff{30000};
constexpr milliseconds kStopGrace{3000};

class Supervisor {
 public:
  explicit Supervisor(fs::path projectDir)
      : projectDir_(fs::absolute(projectDir)),
        state_(std::make_shared<StateDb>(projectDir_)),
        control_((waitForPrevious(*state_), projectDir_)) {
    state_->setSupervisorPid(::getpid());
  }

  int run() {
    // Nothing to do until the release that started us sends its plan.
    auto idleSince = Clock::now();
    while (!stopRequested) {
      if (auto connection = control_.accept(milliseconds(100))) {
        const bool down = connection->request.value("op", "") == "down";
        ControlServer::reply(*connection, handle(connection->request));
        if (down) return 0;
        idleSince = Clock::now();
      }
      tick();
      if (!active() && Clock::now() - idleSince > std::chrono::seconds(2)) break;
    }
    control_.close();  // new releases start a new supervisor from here on
    teardown("Stopped");
    return 0;
  }

 private:
  // A supervisor that is still tearing down (unmounting) owns the mounts;
  // let it finish before taking over.
  static void waitForPrevious(StateDb& state) {
    const int previous = state.supervisorPid();
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (previous != ::getpid() && isAlive(previous) && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  nlohmann::json handle(const nlohmann::json& request) {
    const std::string op = request.value("op", "");
    try {
      if (op == "ping") return {{"ok", true}, {"pid", ::getpid()}};
      if (op == "release") return release(request.at("plan").get<LocalPlan>());
      if (op == "down") {
        teardown("Stopped");
        return {{"ok", true}};
      }
      return {{"ok", false}, {"error", "unknown request \"" + op + "\""}};
    } catch (const Error& e) {
      return {{"ok", false}, {"error", e.what()}};
    } catch (const std::exception& e) {
      return {{"ok", false}, {"error", std::string("the supervisor failed: ") + e.what()}};
    }
  }

  nlohmann::json release(const LocalPlan& plan) {
    secrets_ = plan.secretValues;
    gpuSettings_ = plan.gpus;
    const int64_t releaseId = state_->addRelease();
    pruneHistory(static_cast<size_t>(std::max(1, plan.keepRuns)));
    auto places = std::make_shared<ArtifactPlaces>();
    for (const auto& mount : plan.mounts) {
      // Host paths have no URI of their own: they are files here.
      const std::string uri = !mount.uri.empty() ? mount.uri : "file://" + mount.mountpoint;
      places->roots.push_back({mount.mountPath, uri});
      places->roots.push_back({mount.mountpoint, uri});
    }
    places->modelRepositories = plan.modelRepositories;
    places_ = places;
    nlohmann::json reply = {
        {"ok", true}, {"release", releaseId}, {"kept", nlohmann::json::array()}};
    // Services whose plan is unchanged keep running (no dropped requests);
    // the rest of what runs now is replaced.
    std::vector<const UnitPlan*> toStart;
    for (const auto& unitPlan : plan.units) {
      auto running = findActive(unitPlan.name);
      if (running && unitPlan.service && running->plan.configHash == unitPlan.configHash) {
        reply["kept"].push_back(unitPlan.name);
        continue;
      }
      if (running) stopUnit(*running, "Stopped", fmt::format("replaced by release {}", releaseId));
      toStart.push_back(&unitPlan);
    }
    for (auto& unit : units_) {
      const bool inPlan = std::any_of(plan.units.begin(), plan.units.end(),
                                      [&](const UnitPlan& p) { return p.name == unit.plan.name; });
      if (!unit.finished && !inPlan) {
        stopUnit(unit, "Stopped", fmt::format("removed from skiff.yaml in release {}", releaseId));
      }
    }
    for (const auto* unitPlan : toStart) {
      std::string mountError;
      for (const MountPlan* mount : mountsNamed(plan, unitPlan->mounts)) {
        if (mountError.empty()) mountError = ensureMounted(*mount);
      }
      startUnit(*unitPlan, releaseId, mountError);
    }
    return reply;
  }

  // Keeps the history bounded: the oldest finished runs of each name go,
  // with their logs.
  void pruneHistory(size_t keepPerName) {
    for (const int64_t id : state_->pruneHistory(keepPerName)) {
      std::error_code ignored;
      fs::remove_all(projectDir_ / ".skiff" / "logs" / std::to_string(id), ignored);
    }
  }

  Unit* findActive(const std::string& name) {
    for (auto& unit : units_) {
      if (unit.plan.name == name && !unit.finished) return &unit;
    }
    return nullptr;
  }

  // Mounts a blob entry with `skiff mount` (once; later units share it).
  // Returns an error message, empty when mounted.
  std::string ensureMounted(const MountPlan& plan) {
    if (plan.argv.empty()) return {};  // a host path: bound as it is
    for (auto& mount : mounts_) {
      if (mount.plan.name != plan.name) continue;
      if (mount.plan.argv == plan.argv && mount.plan.env == plan.env && mount.process->running()) {
        return {};
      }
      unmountOne(mount);
      mounts_.remove_if([&](const Mount& m) { return m.plan.name == plan.name; });
      break;
    }
    fs::create_directories(plan.mountpoint);
    const fs::path log = projectDir_ / ".skiff" / "logs" / ("mount-" + plan.name + ".log");
    makePrivateDirectory(log.parent_path());
    ::close(openPrivateFile(log, O_WRONLY | O_APPEND));  // before the mount appends to it
    SpawnOptions options;
    options.extraEnv = plan.env;
    options.stdoutFile = log;
    options.stderrFile = log;
    Mount mount{plan, std::make_unique<Subprocess>(plan.argv, options)};
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!isMounted(plan.mountpoint)) {
      if (!mount.process->running() || Clock::now() > deadline) {
        mount.process->stop(kStopGrace);
        std::string logTail;
        for (const auto& line : lastLines(log, 5)) logTail += "\n  " + line;
        return fmt::format("storage \"{}\" ({}) could not be mounted at {}:{}", plan.name, plan.uri,
                           plan.mountpoint, logTail);
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    state_->putMount({plan.name, plan.mountpoint, mount.process->pid(), plan.uri});
    mounts_.push_back(std::move(mount));
    return {};
  }

  void unmountOne(Mount& mount) {
    unmount(mount.plan.mountpoint);
    if (!mount.process->wait(std::chrono::seconds(5))) mount.process->stop(kStopGrace);
    state_->removeMount(mount.plan.name);
  }

  void startUnit(const UnitPlan& plan, int64_t releaseId, const std::string& mountError) {
    Unit& unit = units_.emplace_back();
    unit.plan = plan;
    unit.run.releaseId = releaseId;
    unit.run.name = plan.name;
    unit.run.kind = plan.kind;
    unit.run.started = nowSeconds();
    unit.run.endpoint = plan.endpoint;
    unit.run.status = plan.service ? "Starting" : "Running";
    unit.run.params = plan.params.dump();
    unit.places = places_;
    unit.run.id = state_->addRun(unit.run);
    if (!plan.loginToken.empty()) state_->setLoginToken(plan.name, plan.loginToken);
    const std::string error = !plan.error.empty() ? plan.error : mountError;
    if (!error.empty()) {
      finish(unit, "Failed", error, std::nullopt);
      return;
    }
    const fs::path logDir = projectDir_ / ".skiff" / "logs" / std::to_string(unit.run.id);
    makePrivateDirectory(logDir.parent_path());
    makePrivateDirectory(logDir);
    for (const auto& process : plan.processes) {
      Replica& replica = unit.replicas.emplace_back();
      replica.plan = process;
      replica.record.runId = unit.run.id;
      replica.record.replica = process.replica;
      replica.record.logPath = logDir / (process.replica + ".log");
      replica.record.status = "Starting";
      replica.record.id = state_->addReplica(replica.record);
    }
    for (auto& replica : unit.replicas) startReplica(unit, replica);
  }

  void startReplica(Unit& unit, Replica& replica) {
    replica.gpus.reset();
    std::vector<std::string> argv = replica.plan.argv;
    std::map<std::string, std::string> gpuEnv;
    if (replica.plan.gpus > 0) {
      const auto& settings = gpuSettings_;
      const auto all = listGpus(settings.deviceDir);
      try {
        replica.gpus = GpuLease::acquire(replica.plan.gpus, all, settings.lockDir);
      } catch (const Error& e) {
        finish(unit, "Failed", fmt::format("{}: {}", replica.plan.replica, e.what()), 127);
        return;
      }
      if (!replica.gpus) {
        // Another run holds them: wait, as a pod waits for a node with free GPUs.
        replica.record.status = "Pending";
        state_->updateReplica(replica.record);
        unit.run.message =
            fmt::format("waiting for {} free GPU{} of {} (other runs hold them)", replica.plan.gpus,
                        replica.plan.gpus == 1 ? "" : "s", all.size());
        state_->updateRun(unit.run);
        replica.restartAt = Clock::now() + milliseconds(500);
        return;
      }
      const std::string visible = replica.gpus->visibleDevices();
      gpuEnv = {{"CUDA_VISIBLE_DEVICES", visible},
                {"NVIDIA_VISIBLE_DEVICES", visible},
                {"CUDA_DEVICE_ORDER", "PCI_BUS_ID"}};
      if (replica.plan.sandboxed) {
        // Bound after bubblewrap's own /dev, before the command ("--").
        const auto devices = gpuSandboxArguments(replica.gpus->gpus(), settings.deviceDir);
        argv.insert(std::find(argv.begin(), argv.end(), "--"), devices.begin(), devices.end());
        // Inside the sandbox the leased GPUs are the only ones: CUDA counts from 0.
        std::string inside;
        for (size_t i = 0; i < replica.gpus->gpus().size(); ++i) {
          inside += (i ? "," : "") + std::to_string(i);
        }
        gpuEnv["CUDA_VISIBLE_DEVICES"] = inside;
      }
    }
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) throw Error("cannot make a pipe for a process's output");
    auto sink = std::make_shared<LogSink>();
    sink->state = state_;
    sink->runId = unit.run.id;
    sink->replica = replica.plan.replica;
    sink->secrets = secrets_;
    sink->places = unit.places ? unit.places : std::make_shared<const ArtifactPlaces>();
    sink->metricValues = unit.metricValues;
    ::close(openPrivateFile(replica.record.logPath, O_WRONLY | O_APPEND));  // 0600 first
    sink->file.open(replica.record.logPath, std::ios::app);
    if (replica.record.restarts > 0) {
      // Why, not only that: the previous exit in words.
      sink->file << fmt::format(
          "skiff: restart {} of {} ({} {})\n", replica.record.restarts, replica.plan.replica,
          replica.plan.replica,
          replica.record.exitCode ? describeExit(*replica.record.exitCode) : "exited");
    }
    SpawnOptions options;
    options.extraEnv = replica.plan.env;
    for (auto& [key, value] : gpuEnv) options.extraEnv[key] = value;
    options.outputFd = pipeFds[1];
    options.workingDir = replica.plan.workingDir;
    replica.restartAt.reset();
    try {
      replica.process = std::make_unique<Subprocess>(argv, options);
    } catch (const Error& e) {
      ::close(pipeFds[0]);
      ::close(pipeFds[1]);
      sink->line(std::string("skiff: ") + e.what());
      replica.record.status = "Failed";
      state_->updateReplica(replica.record);
      finish(unit, "Failed", fmt::format("{} could not start: {}", replica.plan.replica, e.what()),
             127);
      return;
    }
    ::close(pipeFds[1]);
    std::thread(pumpOutput, pipeFds[0], std::move(sink)).detach();
    replica.startedAt = Clock::now();
    replica.record.pid = replica.process->pid();
    replica.record.status = "Running";
    replica.record.started = nowSeconds();
    replica.record.ended = 0;
    replica.record.exitCode.reset();
    state_->updateReplica(replica.record);
  }

  void tick() {
    for (auto& unit : units_) {
      if (unit.finished) continue;
      for (auto& replica : unit.replicas) {
        if (unit.finished) break;
        if (replica.restartAt && Clock::now() >= *replica.restartAt) {
          startReplica(unit, replica);
        } else if (replica.process && !replica.restartAt && replica.record.pid != 0) {
          if (auto code = replica.process->wait(milliseconds(0))) onExit(unit, replica, *code);
        }
      }
      if (!unit.finished && unit.plan.service && !unit.ready && Clock::now() >= unit.nextProbe) {
        unit.nextProbe = Clock::now() + milliseconds(250);
        if (probe(unit.plan.port, unit.plan.readyPath)) {
          unit.ready = true;
          unit.run.status = "Ready";
          unit.run.message.clear();
          state_->updateRun(unit.run);
        }
      }
    }
  }

  void onExit(Unit& unit, Replica& replica, int code) {
    replica.gpus.reset();
    replica.record.pid = 0;
    replica.record.exitCode = code;
    replica.record.ended = nowSeconds();
    const bool ranLong = Clock::now() - replica.startedAt > std::chrono::seconds(60);
    if (unit.plan.service) {
      // Services always come back, slower each time they crash in a row.
      if (ranLong) unit.backoff = milliseconds(1000);
      scheduleRestart(unit, replica, fmt::format("{} {}", replica.plan.replica, describeExit(code)),
                      code);
      unit.ready = false;
      unit.run.status = "Restarting";
      state_->updateRun(unit.run);
      return;
    }
    if (code == 0) {
      replica.record.status = "Succeeded";
      state_->updateReplica(replica.record);
      state_->addEvent({unit.run.id, replica.plan.replica, nowSeconds(),
                        replica.plan.replica + " " + describeExit(code), code});
      if (replica.plan.replica == unit.plan.successReplica) finish(unit, "Succeeded", {}, 0);
      return;
    }
    const std::string why = fmt::format("{} {}", replica.plan.replica, describeExit(code));
    if (unit.failures < unit.plan.backoffLimit) {
      ++unit.failures;
      scheduleRestart(unit, replica,
                      fmt::format("{}; retry {} of {}", why, unit.failures, unit.plan.backoffLimit),
                      code);
      return;
    }
    replica.record.status = "Failed";
    state_->updateReplica(replica.record);
    state_->addEvent({unit.run.id, replica.plan.replica, nowSeconds(), why, code});
    finish(unit, "Failed",
           unit.plan.backoffLimit > 0
               ? fmt::format("{} (backoff limit {} reached)", why, unit.plan.backoffLimit)
               : why,
           code);
  }

  void scheduleRestart(Unit& unit, Replica& replica, const std::string& why, int code) {
    replica.record.status = "Restarting";
    ++replica.record.restarts;
    replica.restartAt = Clock::now() + unit.backoff;
    unit.run.message = fmt::format("{}; restarting in {:.1f}s", why, unit.backoff.count() / 1000.0);
    state_->addEvent({unit.run.id, replica.plan.replica, nowSeconds(), unit.run.message, code});
    unit.backoff = std::min(unit.backoff * 2, kMaxBackoff);
    state_->updateReplica(replica.record);
    state_->updateRun(unit.run);
  }

  // Ends a run: stops what still runs of it and records the outcome.
  void finish(Unit& unit, const std::string& status, const std::string& message,
              std::optional<int> exitCode) {
    for (auto& replica : unit.replicas) {
      replica.restartAt.reset();
      if (replica.process && replica.record.pid != 0) {
        const int code = replica.process->stop(kStopGrace);
        replica.record.pid = 0;
        replica.record.exitCode = code;
        replica.record.ended = nowSeconds();
        replica.record.status = "Stopped";
      } else if (replica.record.status == "Restarting" || replica.record.status == "Starting" ||
                 replica.record.status == "Pending") {
        replica.record.status = "Stopped";
      }
      replica.gpus.reset();
      state_->updateReplica(replica.record);
    }
    unit.finished = true;
    unit.run.status = status;
    unit.run.message = message;
    unit.run.exitCode = exitCode;
    unit.run.ended = nowSeconds();
    state_->updateRun(unit.run);
  }

  void stopUnit(Unit& unit, const std::string& status, const std::string& message) {
    finish(unit, status, message, std::nullopt);
  }

  bool active() const {
    return std::any_of(units_.begin(), units_.end(), [](const Unit& u) { return !u.finished; });
  }

  void teardown(const std::string& status) {
    for (auto& unit : units_) {
      if (!unit.finished) stopUnit(unit, status, "stopped by skiff down");
    }
    for (auto& mount : mounts_) unmountOne(mount);
    mounts_.clear();
    state_->setSupervisorPid(0);
  }

  fs::path projectDir_;
  std::shared_ptr<StateDb> state_;
  ControlServer control_;
  std::list<Unit> units_;
  std::list<Mount> mounts_;
  std::vector<std::string> secrets_;
  std::shared_ptr<const ArtifactPlaces> places_;
  GpuSettings gpuSettings_;  // the latest release's: where GPUs are found and leased
};

}  // namespace

int runSupervisor(const fs::path& projectDir) {
  ::setsid();  // out of the releasing terminal's session: Ctrl-C there does not stop us
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  try {
    Supervisor supervisor(projectDir);
    return supervisor.run();
  } catch (const std::exception& e) {
    std::cerr << "skiff supervisor: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace skiff::deploy::local
