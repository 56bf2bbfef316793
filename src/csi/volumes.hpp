#pragma once

// The volumes one node plugin has published: each is a `skiff mount` process
// of its own, started in a session of its own so that it outlives the plugin
// (kill -9, upgrade), with its state and cache under the state directory.
// A restarted plugin finds them again from that state and the mount table.

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace skiff::csi {

// What a CSI call failed with: a gRPC status code and a message for the pod's
// events (what, where, what to do). Never holds a secret.
struct CsiError {
  enum class Code { kInvalidArgument, kAlreadyExists, kFailedPrecondition, kInternal, kNotFound };
  Code code;
  std::string message;
};

struct PublishRequest {
  std::string volumeId;
  std::string targetPath;
  bool readOnly = false;  // the request's readonly (a PV's or a pod's readOnly)
  std::map<std::string, std::string> attributes;  // volume_context
  std::map<std::string, std::string> secrets;     // from nodePublishSecretRef
};

// One published volume, as its state file records it.
struct Volume {
  std::string volumeId;
  std::string targetPath;
  std::string uri;
  bool readOnly = false;
  std::string cacheTimeout;
  std::string cacheSize;
  pid_t pid = 0;                 // the `skiff mount` process
  unsigned long long started{};  // its start time (/proc/PID/stat), against PID reuse
  // The pod it serves (kubelet's podInfoOnMount attributes): where news of
  // its mount goes. Empty when kubelet did not say.
  std::string podName;
  std::string podNamespace;
  std::string podUid;
};

struct VolumeManagerOptions {
  std::filesystem::path stateDir;         // volumes/<id>/{volume.json,cache,mount.log}
  std::filesystem::path skiffBinary;      // the `skiff` that runs each mount
  double mountTimeoutSeconds = 60;        // for the store's first answer and the mount
  std::filesystem::path mountCgroupRoot;  // where each mount gets a cgroup of its own (cgroups.hpp)
};

class VolumeManager {
 public:
  explicit VolumeManager(VolumeManagerOptions options);

  // Mounts the volume at its target (made if missing). Idempotent: the same
  // volume at the same target with the same attributes is a success; other
  // attributes there are kAlreadyExists. A recorded mount whose process died
  // is replaced (its cache kept: what it never uploaded is recovered), and a
  // read-write volume takes over a cache kept for its store (unpublish).
  // Throws CsiError.
  void publish(const PublishRequest& request);
  // Unmounts (lazily when busy, then ends its process), removes the cache and
  // the state. A cache that holds changes in no store (failed uploads, files
  // a killed mount never closed) is kept on the node instead, for the next
  // read-write publish of the same store to take over. A target that is not
  // published is a success.
  void unpublish(const std::string& volumeId, const std::string& targetPath);

  // The volumes on record, each with whether its process still serves it.
  struct Found {
    Volume volume;
    bool processAlive = false;
    bool mounted = false;       // the target is a skiff FUSE mount in this mount namespace
    std::filesystem::path dir;  // its state, cache and mount.log
  };
  std::vector<Found> volumes() const;

 private:
  std::filesystem::path volumeDir(const std::string& targetPath) const;
  std::filesystem::path keptDir(const std::string& uri) const;  // kept/<digest of the store>
  void keepUnsaved(const std::filesystem::path& dir, const Volume& volume) const;
  void adoptKept(const std::filesystem::path& dir, const Volume& volume) const;
  void leavePluginCgroup(const Volume& volume) const;

  VolumeManagerOptions options_;
  mutable std::mutex mutex_;  // one call at a time: kubelet retries, never needs parallel mounts
};

// Whether `path` is the mount point of a skiff mount (fuse.skiff) in this
// process's mount namespace (from /proc/self/mountinfo).
bool isSkiffMount(const std::string& path);

}  // namespace skiff::csi
