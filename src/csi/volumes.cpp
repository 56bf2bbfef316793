#include "csi/volumes.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/sha.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "blob/uri.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/subprocess.hpp"
#include "common/text.hpp"
#include "csi/cgroups.hpp"
#include "mount/file_cache.hpp"

namespace skiff::csi {

// volume.json: a key per field; a missing key keeps the field's default.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Volume, volumeId, targetPath, uri, readOnly,
                                                cacheTimeout, cacheSize, pid, started, podName,
                                                podNamespace, podUid)

namespace {

namespace fs = std::filesystem;
using Code = CsiError::Code;

[[noreturn]] void fail(Code code, std::string message) {
  throw CsiError{code, std::move(message)};
}

// Attributes a volume may set (volume_context / volumeAttributes), and
// their defaults: those of `skiff mount`.
constexpr const char* kKnownAttributes = "uri, readOnly, cacheTimeout, cacheSize";
// The cgroup each hierarchy gives the mounts (see leavePluginCgroup).
constexpr const char* kMountsCgroup = "skiff-csi-mounts";
// Kubelet adds these for podInfoOnMount and inline volumes: not the user's.
constexpr const char* kKubeletPrefix = "csi.storage.k8s.io/";

// The secret keys a Secret may hold: the environment variables of the Azure
// tools (see blob/azure/credentials.hpp), and the names Azure's own blob CSI
// driver reads, so one Secret serves both drivers.
const std::map<std::string, std::string>& secretKeys() {
  static const std::map<std::string, std::string> keys = {
      {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_CONNECTION_STRING"},
      {"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT"},
      {"AZURE_STORAGE_KEY", "AZURE_STORAGE_KEY"},
      {"AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_SAS_TOKEN"},
      {"AZURE_STORAGE_BLOB_ENDPOINT", "AZURE_STORAGE_BLOB_ENDPOINT"},
      {"azurestorageaccountname", "AZURE_STORAGE_ACCOUNT"},
      {"azurestorageaccountkey", "AZURE_STORAGE_KEY"},
      {"azurestorageaccountsastoken", "AZURE_STORAGE_SAS_TOKEN"},
  };
  return keys;
}

std::string hexDigest(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string hex;
  for (int i = 0; i < 12; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string normalized(const std::string& path) {
  return fs::path(path).lexically_normal().string();
}

// /proc/PID/stat: the state letter and the start time, or nothing when gone.
std::optional<std::pair<char, unsigned long long>> processStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  char state = 0;
  fields >> state;
  std::string skip;
  // Fields 4..21, then starttime (22).
  for (int i = 4; i <= 21; ++i) fields >> skip;
  unsigned long long started = 0;
  fields >> started;
  return std::make_pair(state, started);
}

bool processAlive(pid_t pid, unsigned long long started) {
  if (pid <= 0) return false;
  const auto stat = processStat(pid);
  return stat && stat->first != 'Z' && stat->first != 'X' && stat->second == started;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountField(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string octal = field.substr(i + 1, 3);
      if (octal.size() == 3 &&
          std::all_of(octal.begin(), octal.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out += static_cast<char>(std::stoi(octal, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

// The file system type mounted at `path` (the top one), or "" when none.
std::string mountTypeAt(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, type;
  const std::string wanted = normalized(path);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    if (unescapeMountField(point) != wanted) continue;
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    rest >> type;  // later lines are mounted over earlier ones
  }
  return type;
}

std::optional<Volume> readState(const fs::path& dir) {
  std::ifstream in(dir / "volume.json");
  if (!in) return std::nullopt;
  try {
    return nlohmann::json::parse(in).get<Volume>();
  } catch (const nlohmann::json::exception& error) {
    spdlog::warn("{}: unreadable state ({}): taken as no volume", (dir / "volume.json").string(),
                 error.what());
    return std::nullopt;
  }
}

void writeState(const fs::path& dir, const Volume& volume) {
  try {
    writeFileAtomically(dir / "volume.json", nlohmann::json(volume).dump(2) + "\n");
  } catch (const Error& error) {
    fail(Code::kInternal, fmt::format("cannot write the volume's state: {}", error.what()));
  }
}

bool parseBool(const std::string& name, const std::string& value) {
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower == "true") return true;
  if (lower == "false" || lower.empty()) return false;
  fail(Code::kInvalidArgument,
       fmt::format("volume attribute {}: \"{}\" is not true or false", name, value));
}

// The volume a request asks for, with every attribute checked.
Volume volumeFrom(const PublishRequest& request) {
  Volume volume;
  volume.volumeId = request.volumeId;
  volume.targetPath = normalized(request.targetPath);
  volume.readOnly = request.readOnly;
  volume.cacheTimeout = "120";
  volume.cacheSize = "10Gi";
  const auto given = [&](const std::string& name) {
    const auto found = request.attributes.find(std::string(kKubeletPrefix) + name);
    return found == request.attributes.end() ? std::string() : found->second;
  };
  volume.podName = given("pod.name");
  volume.podNamespace = given("pod.namespace");
  volume.podUid = given("pod.uid");
  for (const auto& [name, value] : request.attributes) {
    if (name.rfind(kKubeletPrefix, 0) == 0) continue;
    if (name == "uri") {
      volume.uri = value;
    } else if (name == "readOnly") {
      volume.readOnly = volume.readOnly || parseBool(name, value);
    } else if (name == "cacheTimeout") {
      if (!parseDurationSeconds(value)) {
        fail(Code::kInvalidArgument, fmt::format("volume attribute cacheTimeout: \"{}\" is not a "
                                                 "duration ({})",
                                                 value, kDurationRule));
      }
      volume.cacheTimeout = value;
    } else if (name == "cacheSize") {
      if (!parseByteSize(value)) {
        fail(Code::kInvalidArgument,
             fmt::format("volume attribute cacheSize: \"{}\" is not a size (e.g. 512Mi, 10Gi)",
                         value));
      }
      volume.cacheSize = value;
    } else {
      fail(Code::kInvalidArgument,
           fmt::format("unknown volume attribute \"{}\": skiff's driver reads {}", name,
                       kKnownAttributes));
    }
  }
  if (volume.uri.empty()) {
    fail(Code::kInvalidArgument,
         "volume attribute uri is missing: set it to az://ACCOUNT/CONTAINER[/PREFIX] or "
         "file:///PATH");
  }
  if (volume.uri.rfind("az://", 0) != 0 && volume.uri.rfind("file://", 0) != 0) {
    fail(Code::kInvalidArgument,
         fmt::format("volume attribute uri: \"{}\" is not an az:// or file:// URI", volume.uri));
  }
  try {
    volume.uri = blob::parseBlobUri(volume.uri).toString();
  } catch (const Error& error) {
    fail(Code::kInvalidArgument, fmt::format("volume attribute uri: {}", error.what()));
  }
  return volume;
}

// The mount's environment: a fixed PATH and the credentials from the
// volume's Secret, nothing of the plugin's own (its pod's variables).
std::vector<std::string> mountEnvironment(const PublishRequest& request, const Volume& volume) {
  std::map<std::string, std::string> env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}};
  for (const auto& [key, value] : request.secrets) {
    const auto known = secretKeys().find(key);
    if (known == secretKeys().end()) {
      fail(Code::kInvalidArgument,
           fmt::format("the volume's secret has a key \"{}\" that skiff's driver does not read: "
                       "use AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_KEY or "
                       "AZURE_STORAGE_SAS_TOKEN (with AZURE_STORAGE_ACCOUNT, "
                       "AZURE_STORAGE_BLOB_ENDPOINT)",
                       key));
    }
    env[known->second] = value;
  }
  if (volume.uri.rfind("az://", 0) == 0 && !env.count("AZURE_STORAGE_CONNECTION_STRING") &&
      !env.count("AZURE_STORAGE_KEY") && !env.count("AZURE_STORAGE_SAS_TOKEN")) {
    fail(Code::kInvalidArgument,
         fmt::format("no credentials for {}: give the volume a nodePublishSecretRef to a Secret "
                     "with AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_KEY or "
                     "AZURE_STORAGE_SAS_TOKEN",
                     volume.uri));
  }
  std::vector<std::string> out;
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Unmounts whatever is mounted at `path`: plainly, and lazily when it stays
// busy (a pod being deleted may still hold files open), so that it always
// ends unmounted. Returns whether it had to detach lazily.
bool unmountTarget(const std::string& path) {
  bool lazy = false;
  while (!mountTypeAt(path).empty()) {
    if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    const int error = errno;
    if (error == EBUSY || error == ENOTCONN) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
      spdlog::warn("{} is busy: detaching it lazily", path);
      if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
        lazy = true;
        continue;
      }
    }
    if (error == EINVAL) break;  // no mount point after all
    fail(Code::kInternal, fmt::format("cannot unmount {}: {}", path, std::strerror(errno)));
  }
  return lazy;
}

// Ends a mount process that still runs after its unmount: SIGTERM, then SIGKILL.
// After a lazy detach it would serve the open files of a deleted pod until
// they close: it is stopped at once.
void endProcess(const Volume& volume, bool detached) {
  const auto gone = [&] { return !processAlive(volume.pid, volume.started); };
  if (waitUntil(gone, std::chrono::seconds(detached ? 0 : 10))) return;
  spdlog::warn("skiff mount {} of {} still runs after its unmount: stopping it", volume.pid,
               volume.targetPath);
  ::kill(volume.pid, SIGTERM);
  if (waitUntil(gone, std::chrono::seconds(5))) return;
  ::kill(volume.pid, SIGKILL);
  if (!waitUntil(gone, std::chrono::seconds(5))) {
    fail(Code::kInternal, fmt::format("skiff mount {} of {} does not end after SIGKILL", volume.pid,
                                      volume.targetPath));
  }
}

bool sameVolume(const Volume& a, const Volume& b) {
  return a.volumeId == b.volumeId && a.uri == b.uri && a.readOnly == b.readOnly &&
         a.cacheTimeout == b.cacheTimeout && a.cacheSize == b.cacheSize;
}

}  // namespace

bool isSkiffMount(const std::string& path) {
  return mountTypeAt(path) == "fuse.skiff";
}

VolumeManager::VolumeManager(VolumeManagerOptions options) : options_(std::move(options)) {
  std::error_code error;
  fs::create_directories(options_.stateDir / "volumes", error);
  if (error) {
    throw Error("cannot create the state directory: " + error.message(), options_.stateDir.string(),
                "give --state-dir a writable directory");
  }
  ::chmod(options_.stateDir.c_str(), 0700);
}

fs::path VolumeManager::volumeDir(const std::string& targetPath) const {
  return options_.stateDir / "volumes" / hexDigest(normalized(targetPath));
}

fs::path VolumeManager::keptDir(const std::string& uri) const {
  return options_.stateDir / "kept" / hexDigest(uri);
}

// An unpublish must not delete what is in no store: the cache of such a
// volume waits on the node for the next read-write mount of the same store,
// which uploads its pending uploads and recovers the rest (mount.md).
void VolumeManager::keepUnsaved(const fs::path& dir, const Volume& volume) const {
  if (!mount::FileCache::holdsUnsaved(dir / "cache")) return;
  mount::FileCache::dropCleanCopies(dir / "cache");
  const fs::path kept = keptDir(volume.uri);
  std::error_code error;
  fs::create_directories(kept, error);
  fs::path place = kept / (utcNow("%Y%m%dT%H%M%SZ") + "-" + hexDigest(volume.targetPath));
  for (int n = 1; fs::exists(place); ++n) place += "." + std::to_string(n);
  fs::rename(dir / "cache", place, error);
  if (error) {
    fail(Code::kInternal,
         fmt::format("cannot keep the cache of volume {} (it holds changes that are in no store) "
                     "in {}: {}",
                     volume.volumeId, place.string(), error.message()));
  }
  spdlog::warn(
      "volume {} ({}): its cache holds changes that are in no store (failed uploads, files never "
      "closed, or conflicts): kept in {} for the next read-write mount of {} on this node",
      volume.volumeId, volume.uri, place.string(), volume.uri);
}

// The oldest cache kept for this volume's store becomes its cache.
void VolumeManager::adoptKept(const fs::path& dir, const Volume& volume) const {
  std::error_code error;
  if (volume.readOnly || fs::exists(dir / "cache", error)) return;
  std::vector<fs::path> kept;
  for (const auto& entry : fs::directory_iterator(keptDir(volume.uri), error)) {
    kept.push_back(entry.path());
  }
  if (kept.empty()) return;
  std::sort(kept.begin(), kept.end());
  fs::create_directories(dir, error);
  fs::rename(kept.front(), dir / "cache", error);
  if (error) {
    spdlog::warn("volume {}: cannot take over the kept cache {}: {}", volume.volumeId,
                 kept.front().string(), error.message());
    return;
  }
  spdlog::info("volume {} ({}): takes over the cache {} kept by an earlier mount of it",
               volume.volumeId, volume.uri, kept.front().string());
}

// The plugin's container ends by the death of every process in its cgroup:
// a mount that stays there serves its pod only until the plugin restarts.
void VolumeManager::leavePluginCgroup(const Volume& volume) const {
  if (options_.mountCgroupRoot.empty()) return;
  try {
    moveToCgroup(volume.pid, options_.mountCgroupRoot, kMountsCgroup);
  } catch (const Error& error) {
    spdlog::warn(
        "volume {}: its skiff mount stays in the plugin's cgroup, so a restart of the "
        "plugin will end it: {}",
        volume.volumeId, error.what());
  }
}

void VolumeManager::publish(const PublishRequest& request) {
  if (request.volumeId.empty()) fail(Code::kInvalidArgument, "volume_id is missing");
  if (request.targetPath.empty()) fail(Code::kInvalidArgument, "target_path is missing");
  if (fs::path(request.targetPath).is_relative()) {
    fail(Code::kInvalidArgument, "target_path is not absolute: " + request.targetPath);
  }
  Volume volume = volumeFrom(request);
  const auto env = mountEnvironment(request, volume);

  std::lock_guard lock(mutex_);
  const fs::path dir = volumeDir(volume.targetPath);
  if (const auto recorded = readState(dir)) {
    const bool alive = processAlive(recorded->pid, recorded->started);
    const bool mounted = isSkiffMount(volume.targetPath);
    if (alive && mounted) {
      if (sameVolume(*recorded, volume)) return;
      fail(Code::kAlreadyExists,
           fmt::format("{} already holds volume {} ({}) with other attributes", volume.targetPath,
                       recorded->volumeId, recorded->uri));
    }
    // Its mount process died (or never finished): a new one replaces it,
    // on the same cache, so that what the old one never uploaded is kept
    // in recovered/.
    spdlog::warn("volume {} at {}: its skiff mount (pid {}) {}: mounting it again",
                 recorded->volumeId, volume.targetPath, recorded->pid,
                 alive ? "serves no mount here" : "has died");
    if (alive) ::kill(recorded->pid, SIGKILL);
    unmountTarget(volume.targetPath);
  } else if (!mountTypeAt(volume.targetPath).empty()) {
    fail(Code::kFailedPrecondition,
         fmt::format("{} is already a mount point that skiff's driver did not make: unmount it",
                     volume.targetPath));
  }

  adoptKept(dir, volume);
  std::error_code error;
  fs::create_directories(dir / "cache", error);
  if (!error) fs::create_directories(volume.targetPath, error);
  if (error) {
    fail(Code::kInternal, fmt::format("cannot create {} or {}: {}", (dir / "cache").string(),
                                      volume.targetPath, error.message()));
  }
  std::vector<std::string> argv = {options_.skiffBinary.string(),
                                   "mount",
                                   volume.uri,
                                   volume.targetPath,
                                   "--foreground",
                                   "--allow-other",
                                   "--cache-dir",
                                   "cache",
                                   "--cache-timeout",
                                   volume.cacheTimeout,
                                   "--cache-size",
                                   volume.cacheSize,
                                   "--log-file",
                                   "mount.log"};
  if (volume.readOnly) argv.push_back("--read-only");
  // No child of the plugin: killing or upgrading the plugin leaves it serving.
  // Its cache and log are relative to its working directory: it starts in
  // the plugin container's mount namespace, where the kubelet directory sits
  // on the container's root file system, and when the runtime deletes that
  // container (a new plugin pod) the kernel detaches every mount on its
  // deleted directories, the kubelet directory's included. A working
  // directory keeps its directory through that; a path would not.
  try {
    volume.pid = startDetached({.argv = argv,
                                .env = env,
                                .output = dir / "mount.out",
                                .workingDir = dir,
                                .description = "skiff mount"});
  } catch (const Error& notStarted) {
    fail(Code::kInternal, notStarted.what());
  }
  const auto stat = processStat(volume.pid);
  volume.started = stat ? stat->second : 0;
  writeState(dir, volume);
  leavePluginCgroup(volume);

  const bool up = waitUntil(
      [&] { return isSkiffMount(volume.targetPath) || !processAlive(volume.pid, volume.started); },
      std::chrono::milliseconds(static_cast<long>(options_.mountTimeoutSeconds * 1000)));
  if (up && isSkiffMount(volume.targetPath)) {
    spdlog::info("published volume {} ({}{}) at {}: skiff mount pid {}", volume.volumeId,
                 volume.uri, volume.readOnly ? ", read-only" : "", volume.targetPath, volume.pid);
    return;
  }
  if (!up) ::kill(volume.pid, SIGKILL);
  waitUntil([&] { return !processAlive(volume.pid, volume.started); }, std::chrono::seconds(5));
  unmountTarget(volume.targetPath);
  std::string said = readTrimmedFile(dir / "mount.out");
  keepUnsaved(dir, volume);  // a cache it took over waits for the next try
  fs::remove_all(dir, error);
  if (said.rfind("skiff: error: ", 0) == 0) said = said.substr(14);
  const std::string message =
      up ? fmt::format("skiff mount of {} at {} failed: {}", volume.uri, volume.targetPath,
                       said.empty() ? "it exited without a word" : said)
         : fmt::format("skiff mount of {} at {} did not come up within {} s", volume.uri,
                       volume.targetPath, options_.mountTimeoutSeconds);
  spdlog::error("volume {}: {}", volume.volumeId, message);
  fail(Code::kFailedPrecondition, message);
}

void VolumeManager::unpublish(const std::string& volumeId, const std::string& targetPath) {
  if (volumeId.empty()) fail(Code::kInvalidArgument, "volume_id is missing");
  if (targetPath.empty()) fail(Code::kInvalidArgument, "target_path is missing");
  std::lock_guard lock(mutex_);
  const std::string target = normalized(targetPath);
  const fs::path dir = volumeDir(target);
  const auto recorded = readState(dir);
  if (!recorded && mountTypeAt(target).empty()) {
    std::error_code ignored;
    fs::remove(target, ignored);  // only when empty
    return;
  }
  if (recorded && recorded->volumeId != volumeId) {
    spdlog::warn("unpublish of volume {} at {}, where volume {} is recorded: unmounting it",
                 volumeId, target, recorded->volumeId);
  }
  const bool lazy = unmountTarget(target);
  if (recorded) endProcess(*recorded, lazy);
  if (recorded) keepUnsaved(dir, *recorded);
  std::error_code error;
  fs::remove_all(dir, error);
  if (error) {
    fail(Code::kInternal,
         fmt::format("cannot remove the cache {}: {}", dir.string(), error.message()));
  }
  fs::remove(target, error);
  spdlog::info("unpublished volume {} from {}{}", volumeId, target,
               lazy ? " (detached lazily: it was busy)" : "");
}

std::vector<VolumeManager::Found> VolumeManager::volumes() const {
  std::lock_guard lock(mutex_);
  std::vector<Found> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(options_.stateDir / "volumes", error)) {
    const auto volume = readState(entry.path());
    if (!volume) continue;
    found.push_back({*volume, processAlive(volume->pid, volume->started),
                     isSkiffMount(volume->targetPath), entry.path()});
  }
  return found;
}

}  // namespace skiff::csi
