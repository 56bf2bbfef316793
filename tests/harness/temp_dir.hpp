#pragma once

#include <filesystem>
#include <string>

namespace skiff::testing {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "skiff-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Writes `content` to a file under the directory (creating parents) and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& content) const;
  // What a file under the directory holds ("" when it is not there).
  std::string read(const std::string& name) const;

 private:
  std::filesystem::path path_;
};

// Copies a project directory as a user would commit it: regular files,
// symlinks and directories, never the local target's state (`.skiff/`, whose
// supervisor socket cannot be copied while the project runs), Python caches or
// notebook checkpoints, nor anything that is not a file (sockets, FIFOs).
void copyProject(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace skiff::testing
