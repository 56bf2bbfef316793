#include "serve/onnxruntime/library.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>

#include "common/error.hpp"

namespace skiff::serve::ort {
namespace fs = std::filesystem;
namespace {

std::optional<fs::path> binaryDirectory() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) return std::nullopt;
  return self.parent_path();
}

// Opens one candidate; the reason it is unusable otherwise.
std::optional<Library> open(const std::string& path, std::string& reason) {
  // A bare name goes through the dynamic linker's search; a path must exist.
  if (path.find('/') != std::string::npos && !fs::exists(path)) {
    reason = "no such file";
    return std::nullopt;
  }
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* error = ::dlerror();
    reason = error ? error : "dlopen failed";
    return std::nullopt;
  }
  using GetApiBase = const OrtApiBase* (*)();
  auto getApiBase = reinterpret_cast<GetApiBase>(::dlsym(handle, "OrtGetApiBase"));
  const OrtApiBase* base = getApiBase ? getApiBase() : nullptr;
  if (!base) {
    reason = "it has no OrtGetApiBase: not an ONNX Runtime library";
    ::dlclose(handle);
    return std::nullopt;
  }
  Library library;
  library.version = base->GetVersionString ? base->GetVersionString() : "unknown";
  library.api = base->GetApi(kOrtApiVersion);
  if (!library.api) {
    reason = fmt::format(
        "ONNX Runtime {} does not offer C API version {} (ONNX Runtime 1.{} or newer does)",
        library.version, kOrtApiVersion, kOrtApiVersion);
    ::dlclose(handle);
    return std::nullopt;
  }
  Dl_info info{};
  library.path = path;
  if (::dladdr(reinterpret_cast<void*>(getApiBase), &info) && info.dli_fname) {
    library.path = info.dli_fname;  // where the linker found a bare name
  }
  return library;  // the handle stays open for the life of the process
}

}  // namespace

std::vector<std::string> candidatePaths(const std::string& explicitPath) {
  if (!explicitPath.empty()) return {explicitPath};
  if (const char* fromEnvironment = std::getenv(kEnvironmentVariable);
      fromEnvironment && *fromEnvironment) {
    return {fromEnvironment};
  }
  std::vector<std::string> paths;
  if (const auto directory = binaryDirectory()) {
    paths.push_back((*directory / kLibraryName).string());
    paths.push_back(
        (*directory / ".." / "lib" / "skiff" / kLibraryName).lexically_normal().string());
  }
  paths.push_back(kLibraryName);
  return paths;
}

namespace {

Error notFound(const std::string& tried) {
  return Error("cannot load ONNX Runtime, the engine of skiff serve; tried:" + tried, "",
               fmt::format("run scripts/setup, which installs onnxruntime-node {} with npm and "
                           "puts its {} next to the skiff binary; or point --onnxruntime-library "
                           "or ${} at an ONNX Runtime 1.{}+ library",
                           kTestedVersion, kLibraryName, kEnvironmentVariable, kOrtApiVersion));
}

}  // namespace

std::string locateLibrary(const std::string& explicitPath) {
  std::string tried;
  for (const std::string& path : candidatePaths(explicitPath)) {
    if (path.find('/') == std::string::npos) continue;
    if (fs::is_regular_file(path)) return fs::canonical(path).string();
    tried += fmt::format("\n  {}: no such file", path);
  }
  throw notFound(tried);
}

const Library& loadLibrary(const std::string& explicitPath) {
  static std::mutex mutex;
  static std::optional<Library> loaded;
  std::lock_guard lock(mutex);
  const std::vector<std::string> paths = candidatePaths(explicitPath);
  if (loaded) {
    const bool same = std::any_of(paths.begin(), paths.end(), [&](const std::string& path) {
      std::error_code error;
      return path == loaded->path || fs::equivalent(path, loaded->path, error);
    });
    if (!explicitPath.empty() && !same) {
      throw Error(fmt::format("ONNX Runtime is already loaded from {}; one process runs one "
                              "ONNX Runtime",
                              loaded->path),
                  explicitPath);
    }
    return *loaded;
  }
  std::string tried;
  for (const std::string& path : paths) {
    std::string reason;
    if (auto library = open(path, reason)) {
      loaded = std::move(*library);
      return *loaded;
    }
    tried += fmt::format("\n  {}: {}", path, reason);
  }
  throw notFound(tried);
}

}  // namespace skiff::serve::ort
