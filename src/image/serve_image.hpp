#pragma once

// The image a `kind: serve` service runs on Kubernetes: skiff itself. A
// project's own image is for its training code and need not hold skiff, so
// `skiff build` also makes this one, FROM scratch: the skiff binary (debug
// sections stripped), the shared libraries it and ONNX Runtime load (as
// `ldd` resolves them), ONNX Runtime next to the binary (where skiff looks
// first), CA certificates for https stores, and a world-writable /tmp for
// the model cache. It runs as uid 65532.

#include <filesystem>
#include <string>

namespace skiff::image {

struct ServeImageInputs {
  std::filesystem::path skiffBinary;         // what the image runs
  std::filesystem::path onnxruntimeLibrary;  // libonnxruntime.so.1 beside it
};

inline constexpr const char* kServeBinaryPath = "/usr/local/bin/skiff";
// Tags of serve images in the project's repository start with this.
inline constexpr const char* kServeTagPrefix = "skiff-serve-";

// Writes the build context of the serve image into `dir` (a Dockerfile and
// rootfs/). Throws skiff::Error when an input is missing or ldd fails.
void writeServeImageContext(const ServeImageInputs& inputs, const std::filesystem::path& dir);

}  // namespace skiff::image
