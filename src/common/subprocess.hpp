#pragma once

// Child processes: started with an argument vector (never through a shell),
// output sent to files, stopped with a signal and a grace period.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skiff {

struct SpawnOptions {
  std::map<std::string, std::string> extraEnv;  // added to (or replacing) the parent's
  std::filesystem::path stdoutFile;             // empty: inherit
  std::filesystem::path stderrFile;             // empty: inherit; same path: merged
  std::filesystem::path stdinFile;              // empty: /dev/null
  int outputFd = -1;  // >= 0: both stdout and stderr go here (a pipe to read output live)
  std::filesystem::path workingDir;  // empty: the parent's
  bool newProcessGroup = true;       // so a stop reaches its children too
  bool dieWithParent = false;        // SIGTERM when the parent exits (test services)
};

class Subprocess {
 public:
  // Starts argv[0] (looked up on PATH); throws skiff::Error when it cannot start.
  Subprocess(const std::vector<std::string>& argv, const SpawnOptions& options = {});
  ~Subprocess();  // stops a process still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Waits for the exit; returns the exit code (128+signal when killed), or
  // nothing when `timeout` passed first.
  std::optional<int> wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // SIGTERM, then SIGKILL after `grace`; returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  pid_t pid_ = -1;
  std::optional<int> exitCode_;
};

// A daemon: argv[0] (a path) started as a grandchild in a session of its
// own and adopted by init, so it is no child of ours and stopping us (or our
// process group or session) leaves it running. stdin is /dev/null, stdout
// and stderr go to `output` (0600), the environment is exactly `env`, the
// signal mask is empty. Returns its PID; throws skiff::Error naming
// `description` when it cannot start.
struct DetachedSpawn {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
  std::filesystem::path output;
  bool appendOutput = false;              // else the file is emptied first
  std::filesystem::path workingDir = {};  // empty: the caller's
  std::string description;                // "the local supervisor", for errors
};
pid_t startDetached(const DetachedSpawn& spawn);

// The full path of a program on PATH, when there is one.
std::optional<std::filesystem::path> findProgram(const std::string& name);

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion and captures its output; `input` goes to its stdin.
CommandResult runCommand(const std::vector<std::string>& argv, const SpawnOptions& options = {},
                         const std::string& input = {});

// Runs a command to completion, handing each line of its merged stdout and
// stderr to `onLine` as it comes (for build logs); returns the exit code.
int runStreaming(const std::vector<std::string>& argv, const SpawnOptions& options,
                 const std::function<void(std::string_view line)>& onLine);

}  // namespace skiff
