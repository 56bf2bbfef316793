#include "deploy/local/cleanup.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/subprocess.hpp"

namespace skiff::deploy::local {

bool isMounted(const std::string& mountpoint) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    // Fields: id parent major:minor root mountpoint ...
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    if (point == mountpoint) return true;
  }
  return false;
}

bool unmount(const std::string& mountpoint) {
  if (!isMounted(mountpoint)) return true;
  runCommand({"fusermount3", "-u", mountpoint});
  if (!isMounted(mountpoint)) return true;
  runCommand({"fusermount3", "-u", "-z", mountpoint});  // busy: detach now, free when unused
  return !isMounted(mountpoint);
}

namespace {

// The fields of /proc/PID/stat after the process name, starting with the
// state (field 3); empty when the process is gone.
std::vector<std::string> statFields(int pid) {
  std::ifstream statFile(fmt::format("/proc/{}/stat", pid));
  const std::string stat((std::istreambuf_iterator<char>(statFile)),
                         std::istreambuf_iterator<char>());
  const auto afterName = stat.rfind(')');
  std::vector<std::string> fields;
  if (afterName == std::string::npos) return fields;
  std::istringstream in(stat.substr(afterName + 2));
  for (std::string field; in >> field;) fields.push_back(field);
  return fields;
}

}  // namespace

bool isAlive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  // A zombie answers kill() too, until whoever adopted it reaps it.
  const auto fields = statFields(pid);
  return fields.empty() || fields[0] != "Z";
}

bool isSameProcess(int pid, double startedWall) {
  if (!isAlive(pid)) return false;
  const auto fields = statFields(pid);
  constexpr size_t kStartTime = 22 - 3;  // field 22, counted from the state (field 3)
  if (fields.size() <= kStartTime) return false;
  const double startTicks = std::strtod(fields[kStartTime].c_str(), nullptr);
  struct sysinfo info {};
  ::sysinfo(&info);
  const double bootWall = nowSeconds() - static_cast<double>(info.uptime);
  const double startWall = bootWall + startTicks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return std::fabs(startWall - startedWall) < 5;  // uptime has whole-second precision
}

std::vector<std::string> cleanUpAfterCrash(StateDb& state) {
  std::vector<std::string> done;
  const int supervisor = state.supervisorPid();
  if (supervisor != 0 && isAlive(supervisor)) return done;
  for (auto replica : state.liveReplicas()) {
    if (isSameProcess(replica.pid, replica.started)) {
      ::kill(-replica.pid, SIGKILL);  // its process group: the sandbox and what it started
      done.push_back(fmt::format("stopped process {} left by a crashed supervisor", replica.pid));
    }
    replica.pid = 0;
    if (replica.status == "Running" || replica.status == "Restarting") replica.status = "Lost";
    state.updateReplica(replica);
  }
  for (auto run : state.latestRuns()) {
    if (run.ended == 0) {
      run.status = "Lost";
      run.ended = nowSeconds();
      run.message = "the local supervisor stopped unexpectedly; see .skiff/supervisor.log";
      state.updateRun(run);
    }
  }
  for (const auto& mount : state.mounts()) {
    if (unmount(mount.mountpoint)) {
      state.removeMount(mount.name);
      done.push_back("unmounted " + mount.mountpoint);
    } else {
      done.push_back("could not unmount " + mount.mountpoint + " (run fusermount3 -u -z on it)");
    }
  }
  if (supervisor != 0) state.setSupervisorPid(0);
  return done;
}

}  // namespace skiff::deploy::local
