#include "deploy/local/cleanup.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cmath>
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

bool isAlive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  // A zombie answers kill() too, until whoever adopted it reaps it.
  std::ifstream statFile(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
  const auto afterName = stat.rfind(')');
  return afterName == std::string::npos || stat.substr(afterName + 2, 1) != "Z";
}

bool isSameProcess(int pid, double startedWall) {
  if (!isAlive(pid)) return false;
  std::ifstream statFile(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
  const auto afterName = stat.rfind(')');
  if (afterName == std::string::npos) return false;
  std::istringstream fields(stat.substr(afterName + 2));
  std::string field;
  // After the name: state is field 3; starttime is field 22.
  for (int index = 3; index < 22 && fields >> field; ++index) {
  }
  unsigned long long startTicks = 0;
  if (!(fields >> startTicks)) return false;
  struct sysinfo info {};
  ::sysinfo(&info);
  const double bootWall = nowSeconds() - static_cast<double>(info.uptime);
  const double startWall = bootWall + static_cast<double>(startTicks) / ::sysconf(_SC_CLK_TCK);
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
