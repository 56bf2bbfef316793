#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace skiff::mount {

struct MountOptions {
  std::string uri;         // az://ACCOUNT/CONTAINER[/PREFIX] or file:///PATH
  std::string mountPoint;  // an existing, empty directory
  bool readOnly = false;
  std::string cacheDir;              // default: /var/cache/skiff/mount-<hash of mount point>
  double cacheTimeoutSeconds = 120;  // cached file data is served unchecked this long
  uint64_t cacheSizeBytes = 10ull << 30;
  double attrTimeoutSeconds = -1;  // attributes and lookups; < 0: the cache timeout
  double listTimeoutSeconds = -1;  // directory listings; < 0: the cache timeout
  // Files larger than this are streamed through ranged reads instead of cached.
  uint64_t streamThresholdBytes = 0;  // 0: half the cache size
  bool allowOther = false;
  bool foreground = false;
  std::string logFile;  // empty: the cache dir's mount.log; "syslog" for syslog
  std::string logLevel = "info";

  double attrTimeout() const {
    return attrTimeoutSeconds < 0 ? cacheTimeoutSeconds : attrTimeoutSeconds;
  }
  double listTimeout() const {
    return listTimeoutSeconds < 0 ? cacheTimeoutSeconds : listTimeoutSeconds;
  }
  uint64_t streamThreshold() const {
    return streamThresholdBytes ? streamThresholdBytes : cacheSizeBytes / 2;
  }
};

}  // namespace skiff::mount
