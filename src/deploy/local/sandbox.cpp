#include "deploy/local/sandbox.hpp"

#include <filesystem>
#include <set>

namespace skiff::deploy::local {

namespace fs = std::filesystem;

std::vector<std::string> sandboxCommand(const SandboxSpec& sandbox,
                                        const std::vector<std::string>& command) {
  std::vector<std::string> argv = {sandbox.bwrap, "--die-with-parent", "--unshare-pid",
                                   "--unshare-ipc", "--unshare-uts"};
  // The root is bubblewrap's own tmpfs, so mountPaths like /data can be made
  // in it; the host's top-level directories come in read-only, its
  // top-level symlinks (/bin -> usr/bin) as symlinks.
  const std::set<std::string> privateDirs = {"proc", "dev", "tmp", "sys"};
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/", error)) {
    const std::string name = entry.path().filename();
    if (privateDirs.count(name)) continue;
    if (entry.is_symlink(error)) {
      argv.insert(argv.end(), {"--symlink", fs::read_symlink(entry.path(), error).string(),
                               entry.path().string()});
    } else if (entry.is_directory(error)) {
      argv.insert(argv.end(), {"--ro-bind", entry.path().string(), entry.path().string()});
    }
  }
  argv.insert(argv.end(), {"--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys",
                           "--tmpfs", "/tmp", "--bind", sandbox.projectDir, sandbox.projectDir});
  for (const auto& bind : sandbox.binds) {
    argv.insert(argv.end(), {bind.readOnly ? "--ro-bind" : "--bind", bind.source, bind.target});
  }
  // A private /tmp is also a writable home.
  argv.insert(argv.end(), {"--setenv", "HOME", "/tmp", "--chdir", sandbox.workingDir, "--"});
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

}  // namespace skiff::deploy::local
