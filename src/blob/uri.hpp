#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace skiff::blob {

class BlobStore;

// A parsed blob location: az://ACCOUNT/CONTAINER/PATH or file:///PATH.
// A file:// store is rooted at "/", so its blob names are absolute paths
// without the leading slash; az:// names are relative to the container.
struct BlobUri {
  enum class Scheme { kAzure, kFile };
  Scheme scheme = Scheme::kFile;
  std::string account;    // az only
  std::string container;  // az only
  std::string path;       // blob name or prefix inside the store, no leading '/'

  std::string storeUri() const;  // az://ACCOUNT/CONTAINER or file://
  std::string toString() const;
};

// Parses a blob URI; a plain local path (no scheme) is taken as file:// with
// the path made absolute. Throws skiff::Error naming the problem.
BlobUri parseBlobUri(std::string_view text);

// Opens the store a URI points into, with credentials from the environment
// (see azure/credentials.hpp). Throws skiff::Error when they are missing.
std::unique_ptr<BlobStore> openStore(const BlobUri& uri);

}  // namespace skiff::blob
