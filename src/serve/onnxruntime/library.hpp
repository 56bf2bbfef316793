#pragma once

// Finds and loads ONNX Runtime's shared library at run time. skiff links no
// ONNX Runtime: Debian has no package of it, and the build npm's
// onnxruntime-node ships (CPU) or one a user has (GPU) is chosen when
// `skiff serve` starts.

#include <string>
#include <vector>

#include "serve/onnxruntime/ort_api.hpp"

namespace skiff::serve::ort {

// The ONNX Runtime release skiff is built and tested against, and where
// scripts/setup installs it from.
inline constexpr const char* kTestedVersion = "1.30.0";
inline constexpr const char* kLibraryName = "libonnxruntime.so.1";
inline constexpr const char* kEnvironmentVariable = "SKIFF_ONNXRUNTIME_LIBRARY";

struct Library {
  std::string path;     // what was loaded
  std::string version;  // GetVersionString(): "1.30.0"
  const OrtApi* api = nullptr;
};

// The places skiff looks, in order: `explicitPath` when set, else
// $SKIFF_ONNXRUNTIME_LIBRARY when set, else libonnxruntime.so.1 next to the
// skiff binary, in ../lib/skiff beside it, then the dynamic linker's search.
std::vector<std::string> candidatePaths(const std::string& explicitPath);

// The first candidate path that is a file (bare names, which the dynamic
// linker resolves, are skipped), for copying the library elsewhere (the
// serve image). Throws skiff::Error listing the places tried.
std::string locateLibrary(const std::string& explicitPath);

// Loads the first candidate that opens and answers the API version skiff
// uses. The library stays loaded for the life of the process (ONNX Runtime
// cannot be unloaded safely); loading another path later is an error.
// Throws skiff::Error naming every place tried, why each failed, and how
// to install the library.
const Library& loadLibrary(const std::string& explicitPath);

}  // namespace skiff::serve::ort
