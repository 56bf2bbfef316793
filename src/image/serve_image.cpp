#include "image/serve_image.hpp"

#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "common/subprocess.hpp"

namespace skiff::image {
namespace fs = std::filesystem;
namespace {

constexpr const char* kCaBundle = "/etc/ssl/certs/ca-certificates.crt";

// The shared objects `file` loads, as the dynamic linker resolves them here
// (the loader itself included): absolute paths.
std::set<fs::path> sharedLibraries(const fs::path& file) {
  const CommandResult result = runCommand({"ldd", file.string()});
  if (result.exitCode != 0) {
    throw Error("ldd cannot list the libraries of " + file.string() + ": " + result.err,
                file.string(), "the serve image needs a dynamically linked ELF file");
  }
  std::set<fs::path> libraries;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("not found") != std::string::npos) {
      throw Error("a library of " + file.string() + " is missing: " + line, file.string(),
                  "install it, then build again");
    }
    // "\tlibfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" or "\t/lib64/ld-linux...
    // (0x...)"
    const size_t arrow = line.find("=> ");
    const size_t start = arrow != std::string::npos ? arrow + 3 : line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] != '/') continue;  // linux-vdso
    libraries.insert(line.substr(start, line.find(" (", start) - start));
  }
  return libraries;
}

// Copies `from` (symlinks followed) to `rootfs` + `at`.
void place(const fs::path& from, const fs::path& rootfs, const fs::path& at) {
  const fs::path target = rootfs / at.relative_path();
  fs::create_directories(target.parent_path());
  fs::copy_file(fs::canonical(from), target, fs::copy_options::overwrite_existing);
}

// The binary without its debug sections (a tenth of the size); as it is
// when objcopy is missing.
void placeStripped(const fs::path& binary, const fs::path& rootfs, const fs::path& at) {
  const fs::path target = rootfs / at.relative_path();
  fs::create_directories(target.parent_path());
  if (findProgram("objcopy")) {
    const CommandResult result =
        runCommand({"objcopy", "--strip-debug", fs::canonical(binary).string(), target.string()});
    if (result.exitCode == 0) return;
  }
  place(binary, rootfs, at);
}

}  // namespace

void writeServeImageContext(const ServeImageInputs& inputs, const fs::path& dir) {
  for (const fs::path& input : {inputs.skiffBinary, inputs.onnxruntimeLibrary}) {
    if (!fs::is_regular_file(input)) {
      throw Error("the serve image needs this file, which does not exist", input.string(),
                  "run scripts/setup, which builds skiff and installs ONNX Runtime");
    }
  }
  const fs::path rootfs = dir / "rootfs";
  const fs::path binDir = fs::path(kServeBinaryPath).parent_path();
  placeStripped(inputs.skiffBinary, rootfs, kServeBinaryPath);
  fs::permissions(rootfs / fs::path(kServeBinaryPath).relative_path(),
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec);
  place(inputs.onnxruntimeLibrary, rootfs, binDir / "libonnxruntime.so.1");
  std::set<fs::path> libraries = sharedLibraries(inputs.skiffBinary);
  libraries.merge(sharedLibraries(inputs.onnxruntimeLibrary));
  for (const fs::path& library : libraries) place(library, rootfs, library);
  if (fs::exists(kCaBundle)) place(kCaBundle, rootfs, kCaBundle);
  fs::create_directories(rootfs / "tmp");
  fs::permissions(rootfs / "tmp", fs::perms::all | fs::perms::sticky_bit);

  std::ofstream dockerfile(dir / "Dockerfile");
  dockerfile << fmt::format(
      "# The image skiff serve runs in on Kubernetes, made by skiff build.\n"
      "FROM scratch\n"
      "COPY rootfs/ /\n"
      "ENV PATH={} SSL_CERT_FILE={}\n"
      "USER 65532:65532\n"
      "ENTRYPOINT [\"{}\"]\n"
      "CMD [\"help\", \"serve\"]\n",
      binDir.string(), kCaBundle, kServeBinaryPath);
  if (!dockerfile.flush()) throw Error("cannot write the serve image's Dockerfile", dir.string());
}

}  // namespace skiff::image
