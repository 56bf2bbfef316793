#include "common/subprocess.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.hpp"

extern char** environ;

namespace skiff {
namespace {

int decodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void redirect(const std::filesystem::path& file, int targetFd, int flags) {
  const int fd = ::open(file.c_str(), flags, 0644);
  if (fd < 0) _exit(127);
  ::dup2(fd, targetFd);
  ::close(fd);
}

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Subprocess::Subprocess(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) throw Error("no command to run");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    const std::string item(*entry);
    const auto eq = item.find('=');
    if (eq != std::string::npos) env[item.substr(0, eq)] = item.substr(eq + 1);
  }
  for (const auto& [key, value] : options.extraEnv) env[key] = value;
  std::vector<std::string> envStrings;
  for (const auto& [key, value] : env) envStrings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& item : envStrings) envp.push_back(item.data());
  envp.push_back(nullptr);

  int errorPipe[2];
  if (::pipe2(errorPipe, O_CLOEXEC) != 0) throw Error("cannot create a pipe", argv[0]);
  pid_ = ::fork();
  if (pid_ < 0) throw Error(std::string("cannot fork: ") + std::strerror(errno), argv[0]);
  if (pid_ == 0) {
    ::close(errorPipe[0]);
    if (options.newProcessGroup) ::setpgid(0, 0);
    if (options.dieWithParent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (!options.workingDir.empty() && ::chdir(options.workingDir.c_str()) != 0) _exit(127);
    redirect(options.stdinFile.empty() ? "/dev/null" : options.stdinFile, 0, O_RDONLY);
    if (options.outputFd >= 0) {
      ::dup2(options.outputFd, 1);
      ::dup2(options.outputFd, 2);
    }
    if (!options.stdoutFile.empty()) redirect(options.stdoutFile, 1, O_WRONLY | O_CREAT | O_TRUNC);
    if (!options.stderrFile.empty()) {
      if (options.stderrFile == options.stdoutFile) {
        ::dup2(1, 2);
      } else {
        redirect(options.stderrFile, 2, O_WRONLY | O_CREAT | O_TRUNC);
      }
    }
    // Descriptors the parent opened without O_CLOEXEC (a file on a mount, a
    // socket) must not leak into the child and keep things busy.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execvpe(args[0], args.data(), envp.data());
    const int code = errno;
    [[maybe_unused]] auto written = ::write(errorPipe[1], &code, sizeof code);
    _exit(127);
  }
  ::close(errorPipe[1]);
  int childErrno = 0;
  const ssize_t got = ::read(errorPipe[0], &childErrno, sizeof childErrno);
  ::close(errorPipe[0]);
  if (got == sizeof childErrno) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    throw Error(std::string("cannot start: ") + std::strerror(childErrno), argv[0],
                "is it installed and on PATH?");
  }
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !exitCode_) stop(std::chrono::seconds(2));
}

bool Subprocess::running() {
  return !wait(std::chrono::milliseconds(0)).has_value();
}

std::optional<int> Subprocess::wait(std::optional<std::chrono::milliseconds> timeout) {
  if (exitCode_) return exitCode_;
  const auto deadline = timeout ? std::chrono::steady_clock::now() + *timeout
                                : std::chrono::steady_clock::time_point::max();
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, timeout ? WNOHANG : 0);
    if (done == pid_) {
      exitCode_ = decodeStatus(status);
      return exitCode_;
    }
    if (done < 0 && errno != EINTR) {
      exitCode_ = -1;
      return exitCode_;
    }
    if (timeout && std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    if (timeout) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int Subprocess::stop(std::chrono::milliseconds grace) {
  if (exitCode_) return *exitCode_;
  // Signal the whole group when the child leads one, so its children stop too.
  const pid_t target = ::getpgid(pid_) == pid_ ? -pid_ : pid_;
  ::kill(target, SIGTERM);
  if (auto code = wait(grace)) return *code;
  ::kill(target, SIGKILL);
  return wait().value_or(-1);
}

pid_t startDetached(const DetachedSpawn& spawn) {
  // Prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args, envp;
  for (const auto& arg : spawn.argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  for (const auto& item : spawn.env) envp.push_back(const_cast<char*>(item.c_str()));
  envp.push_back(nullptr);
  const auto cannot = [&](const std::string& why) {
    return Error(fmt::format("cannot start {}: {}", spawn.description, why), spawn.output.string());
  };
  const int out =
      ::open(spawn.output.c_str(),
             O_WRONLY | O_CREAT | O_CLOEXEC | (spawn.appendOutput ? O_APPEND : O_TRUNC), 0600);
  if (out < 0) throw cannot(fmt::format("cannot open its output: {}", std::strerror(errno)));
  ::fchmod(out, 0600);  // also when an earlier version made it readable
  int pidPipe[2];
  if (::pipe2(pidPipe, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(out);
    throw cannot(fmt::format("cannot create a pipe: {}", std::strerror(error)));
  }
  const pid_t middle = ::fork();
  if (middle == 0) {
    ::setsid();
    const pid_t daemon = ::fork();
    if (daemon == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);  // not our blocked termination signals
      if (!spawn.workingDir.empty() && ::chdir(spawn.workingDir.c_str()) != 0) ::_exit(126);
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    [[maybe_unused]] const auto written = ::write(pidPipe[1], &daemon, sizeof daemon);
    ::_exit(daemon > 0 ? 0 : 1);
  }
  const int forkError = errno;
  ::close(out);
  ::close(pidPipe[1]);
  pid_t daemon = -1;
  const ssize_t got = middle > 0 ? ::read(pidPipe[0], &daemon, sizeof daemon) : -1;
  ::close(pidPipe[0]);
  if (middle > 0) ::waitpid(middle, nullptr, 0);
  if (got != sizeof daemon || daemon <= 0) {
    throw cannot(fmt::format("fork failed: {}", std::strerror(middle < 0 ? forkError : EAGAIN)));
  }
  return daemon;
}

std::optional<std::filesystem::path> findProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "";
  while (!rest.empty()) {
    const auto colon = std::min(rest.find(':'), rest.size());
    const std::filesystem::path candidate = std::filesystem::path(rest.substr(0, colon)) / name;
    if (!candidate.parent_path().empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    rest = colon < rest.size() ? rest.substr(colon + 1) : std::string_view();
  }
  return std::nullopt;
}

CommandResult runCommand(const std::vector<std::string>& argv, const SpawnOptions& options,
                         const std::string& input) {
  char pattern[] = "/tmp/skiff-run-XXXXXX";
  const char* dir = ::mkdtemp(pattern);
  if (!dir) throw Error("cannot create a temporary directory", "/tmp");
  const std::filesystem::path tmp(dir);
  SpawnOptions captured = options;
  captured.stdoutFile = tmp / "out";
  captured.stderrFile = tmp / "err";
  if (!input.empty()) {
    std::ofstream(tmp / "in", std::ios::binary) << input;
    captured.stdinFile = tmp / "in";
  }
  CommandResult result;
  try {
    Subprocess process(argv, captured);
    result.exitCode = process.wait().value_or(-1);
  } catch (...) {
    std::filesystem::remove_all(tmp);
    throw;
  }
  result.out = slurp(tmp / "out");
  result.err = slurp(tmp / "err");
  std::filesystem::remove_all(tmp);
  return result;
}

int runStreaming(const std::vector<std::string>& argv, const SpawnOptions& options,
                 const std::function<void(std::string_view line)>& onLine) {
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) throw Error("cannot create a pipe", argv.at(0));
  SpawnOptions streamed = options;
  streamed.outputFd = pipeFds[1];
  std::optional<Subprocess> process;
  try {
    process.emplace(argv, streamed);
  } catch (...) {
    ::close(pipeFds[0]);
    ::close(pipeFds[1]);
    throw;
  }
  // Only the child may hold the write end, so the read below ends when it exits.
  ::close(pipeFds[1]);
  std::string pending;
  char buffer[8192];
  while (true) {
    const ssize_t got = ::read(pipeFds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    pending.append(buffer, static_cast<size_t>(got));
    size_t start = 0;
    for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
      onLine(std::string_view(pending).substr(start, end - start));
    }
    pending.erase(0, start);
  }
  ::close(pipeFds[0]);
  if (!pending.empty()) onLine(pending);
  return process->wait().value_or(-1);
}

}  // namespace skiff
