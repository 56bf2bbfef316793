#pragma once

#include <filesystem>
#include <string>

namespace skiff::image {

// A private (0700) temporary directory, removed with its files on destruction:
// for files a tool writes back and for short-lived credential files.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace skiff::image
