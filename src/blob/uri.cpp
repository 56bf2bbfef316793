#include "blob/uri.hpp"

#include <filesystem>
#include <regex>

#include "blob/azure/azure_store.hpp"
#include "blob/file_store.hpp"
#include "common/error.hpp"

namespace skiff::blob {
namespace {

const std::regex kAccount("^[a-z0-9]{3,24}$");
const std::regex kContainer("^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$");

}  // namespace

std::string BlobUri::storeUri() const {
  return scheme == Scheme::kAzure ? "az://" + account + "/" + container : "file://";
}

std::string BlobUri::toString() const {
  return scheme == Scheme::kAzure ? storeUri() + (path.empty() ? "" : "/" + path)
                                  : "file:///" + path;
}

BlobUri parseBlobUri(std::string_view text) {
  const std::string input(text);
  BlobUri uri;
  if (input.rfind("az://", 0) == 0) {
    uri.scheme = BlobUri::Scheme::kAzure;
    const std::string rest = input.substr(5);
    const auto slash = rest.find('/');
    uri.account = rest.substr(0, slash);
    const std::string afterAccount = slash == std::string::npos ? "" : rest.substr(slash + 1);
    const auto slash2 = afterAccount.find('/');
    uri.container = afterAccount.substr(0, slash2);
    uri.path = slash2 == std::string::npos ? "" : afterAccount.substr(slash2 + 1);
    if (!std::regex_match(uri.account, kAccount)) {
      throw Error("\"" + uri.account + "\" is not a storage account name", input,
                  "az://ACCOUNT/CONTAINER/PATH; accounts are 3-24 lowercase letters and digits");
    }
    if (!std::regex_match(uri.container, kContainer)) {
      throw Error("\"" + uri.container + "\" is not a container name", input,
                  "az://ACCOUNT/CONTAINER/PATH; containers are 3-63 lowercase letters, digits "
                  "and single '-'");
    }
    return uri;
  }
  if (input.find("://") != std::string::npos && input.rfind("file://", 0) != 0) {
    throw Error("unsupported URI scheme", input, "use az://ACCOUNT/CONTAINER/PATH or file:///PATH");
  }
  std::string path = input;
  if (input.rfind("file://", 0) == 0) {
    path = input.substr(7);
    if (path.empty() || path[0] != '/') {
      throw Error("a file:// URI needs an absolute path", input, "e.g. file:///srv/data");
    }
  }
  if (path.empty()) throw Error("empty path", "blob URI", "give a path or a URI");
  const bool directory = path.back() == '/';
  std::string absolute = std::filesystem::absolute(path).lexically_normal().string();
  // Keep a trailing slash: it says "a directory" in cp, as rclone and azcopy read it.
  if (directory && absolute.back() != '/') absolute += '/';
  uri.path = absolute.substr(1);
  return uri;
}

std::unique_ptr<BlobStore> openStore(const BlobUri& uri) {
  if (uri.scheme == BlobUri::Scheme::kFile) return std::make_unique<FileStore>();
  return std::make_unique<azure::AzureStore>(uri.account, uri.container,
                                             azure::credentialsFromEnvironment(uri.account));
}

}  // namespace skiff::blob
