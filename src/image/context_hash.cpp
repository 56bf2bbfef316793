#include "image/context_hash.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <system_error>
#include <vector>

#include "common/error.hpp"

namespace skiff::image {
namespace {

namespace fs = std::filesystem;

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr);
  }
  void add(std::string_view bytes) { EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()); }
  // Fields are separated by NUL so "ab"+"c" and "a"+"bc" differ.
  void field(std::string_view bytes) {
    add(bytes);
    add(std::string_view("\0", 1));
  }
  void file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read a file of the build context", path.string());
    char buffer[1 << 16];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
      add(std::string_view(buffer, static_cast<size_t>(in.gcount())));
    }
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(context_.get(), digest, &length);
    std::string out;
    for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_;
};

}  // namespace

std::string hashBuildInputs(const HashInputs& inputs) {
  std::error_code error;
  if (!fs::is_directory(inputs.contextDir, error)) {
    throw Error("the build context is not a directory", inputs.contextDir.string(),
                "set image.context in skiff.yaml to a directory, relative to the project");
  }
  std::vector<std::pair<std::string, fs::directory_entry>> entries;
  fs::recursive_directory_iterator walk(inputs.contextDir,
                                        fs::directory_options::skip_permission_denied, error);
  for (; !error && walk != fs::recursive_directory_iterator(); walk.increment(error)) {
    const std::string relative = fs::relative(walk->path(), inputs.contextDir).generic_string();
    if (!inputs.ignore.ignored(relative)) entries.emplace_back(relative, *walk);
  }
  if (error) {
    throw Error("cannot list the build context: " + error.message(), inputs.contextDir.string());
  }
  // Sorted, so the hash does not depend on directory order.
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  Sha256 hash;
  hash.field("skiff-context-v1");
  for (const auto& [relative, entry] : entries) {
    const auto status = entry.symlink_status();
    hash.field(relative);
    hash.field(std::to_string(static_cast<int>(status.permissions())));
    if (fs::is_symlink(status)) {
      hash.field("link");
      hash.field(fs::read_symlink(entry.path()).string());
    } else if (fs::is_directory(status)) {
      hash.field("dir");
    } else if (fs::is_regular_file(status)) {
      hash.field("file");
      hash.file(entry.path());
      hash.field("");
    } else {
      hash.field("other");  // sockets, FIFOs: their presence only
    }
  }
  hash.field("dockerfile");
  hash.file(inputs.dockerfile);
  hash.field("");
  for (const auto& [name, value] : inputs.buildArgs) {
    hash.field("arg");
    hash.field(name);
    hash.field(value);
  }
  hash.field("target");
  hash.field(inputs.target);
  return "sha256:" + hash.hex();
}

}  // namespace skiff::image
