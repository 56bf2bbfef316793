#include "harness/temp_dir.hpp"

#include <stdlib.h>

#include <fstream>
#include <set>
#include <stdexcept>

namespace skiff::testing {

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& content) const {
  const auto file = path_ / name;
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << content;
  return file;
}

void copyProject(const std::filesystem::path& from, const std::filesystem::path& to) {
  namespace fs = std::filesystem;
  // What a project's .gitignore leaves out (the repository's own ignores these too).
  static const std::set<std::string> kLocalOnly = {".skiff", "__pycache__", ".ipynb_checkpoints"};
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const auto name = entry.path().filename();
    if (kLocalOnly.count(name.string())) continue;
    const auto status = entry.symlink_status();
    if (fs::is_symlink(status)) {
      fs::copy_symlink(entry.path(), to / name);
    } else if (fs::is_directory(status)) {
      copyProject(entry.path(), to / name);
    } else if (fs::is_regular_file(status)) {
      fs::copy_file(entry.path(), to / name);
    }
  }
}

std::string TempDir::read(const std::string& name) const {
  std::ifstream in(path_ / name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace skiff::testing
