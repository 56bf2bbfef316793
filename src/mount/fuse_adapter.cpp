// The FUSE side of a mount: libfuse3's high-level (path-based) API, chosen
// because blob names are paths: every call maps straight onto a blob name,
// and the high-level layer's node table spares us an inode map of our own.
// Kernel caching is kept under control per call (entry/attr timeouts, and
// keep_cache on open only for content that did not change).

#define FUSE_USE_VERSION 35
#include "mount/fuse_adapter.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fuse3/fuse.h>
#include <malloc.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include "blob/azure/azure_store.hpp"
#include "blob/errors.hpp"
#include "blob/file_store.hpp"
#include "blob/uri.hpp"
#include "common/error.hpp"
#include "common/subprocess.hpp"
#include "mount/blob_fs.hpp"

namespace skiff::mount {
namespace {

struct MountContext {
  MountOptions options;
  std::unique_ptr<BlobFs> fs;
};

MountContext& context() {
  return *static_cast<MountContext*>(fuse_get_context()->private_data);
}
BlobFs& fs() {
  return *context().fs;
}

void fillStat(const Attributes& attributes, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  const bool readOnly = context().options.readOnly;
  if (attributes.isDirectory) {
    st->st_mode = S_IFDIR | (readOnly ? 0555 : 0755);
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | (readOnly ? 0444 : 0644);
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(attributes.size);
    st->st_blocks = static_cast<blkcnt_t>((attributes.size + 511) / 512);
  }
  st->st_blksize = 1 << 20;
  st->st_uid = ::getuid();
  st->st_gid = ::getgid();
  const auto seconds = std::chrono::system_clock::to_time_t(attributes.modified);
  st->st_mtim.tv_sec = seconds;
  st->st_ctim.tv_sec = seconds;
  st->st_atim.tv_sec = seconds;
}

void* onInit(struct fuse_conn_info* connection, struct fuse_config* config) {
  MountContext& mount = context();
  const double attributes = mount.options.attrTimeout();
  config->entry_timeout = attributes;
  config->attr_timeout = attributes;
  config->negative_timeout = attributes;
  config->kernel_cache = 0;  // decided per open (keep_cache)
  config->hard_remove = 1;   // unlink of an open file: no .fuse_hidden renames
  config->use_ino = 0;
  connection->max_readahead = 1 << 20;
  // Freshness is decided per open (keep_cache). Left on, auto_inval_data
  // makes every cached read() check attributes: warm reads ran 0.66x a local
  // file with it and 0.8x without.
  connection->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  return &mount;
}

int onGetattr(const char* path, struct stat* st, struct fuse_file_info*) {
  Attributes attributes;
  const int result = fs().getattr(path, attributes);
  if (result == 0) fillStat(attributes, st);
  return result;
}

// An open directory: the listing its readdirs page through, taken at the
// first one (again on rewinddir), so that offsets keep their meaning.
struct OpenDirectory {
  std::shared_ptr<const Listing> listing;
};

OpenDirectory& openDirectory(const fuse_file_info* info) {
  return *reinterpret_cast<OpenDirectory*>(static_cast<uintptr_t>(info->fh));
}

int onOpendir(const char*, struct fuse_file_info* info) {
  info->fh = reinterpret_cast<uintptr_t>(new OpenDirectory);
  return 0;
}

int onReleasedir(const char*, struct fuse_file_info* info) {
  delete &openDirectory(info);
  return 0;
}

// Fills the kernel's buffer from `offset` on, with offsets (1 after ".", 2
// after "..", i + 3 after entry i): libfuse then passes each entry straight
// into the kernel's request instead of first copying the whole directory
// into memory of its own, and it creates a node (a lookup) only for the
// entries of READDIRPLUS requests, which the kernel makes for the first
// page and for directories whose entries are stat'ed (ls -l), not for
// every name that `ls` or `find` reads.
int onReaddir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t offset,
              struct fuse_file_info* info, enum fuse_readdir_flags) {
  OpenDirectory& directory = openDirectory(info);
  if (offset == 0 || !directory.listing) {
    const int result = fs().readdir(path, directory.listing);
    if (result != 0) return result;
  }
  const auto none = static_cast<fuse_fill_dir_flags>(0);
  if (offset < 1 && fill(buffer, ".", nullptr, 1, none) != 0) return 0;
  if (offset < 2 && fill(buffer, "..", nullptr, 2, none) != 0) return 0;
  const Listing& listing = *directory.listing;
  std::string name;
  for (size_t at = static_cast<size_t>(std::max<off_t>(offset, 2) - 2); at < listing.size(); ++at) {
    struct stat st;
    fillStat(listing.attributes(at), &st);
    name = listing.name(at);
    if (fill(buffer, name.c_str(), &st, static_cast<off_t>(at + 3), FUSE_FILL_DIR_PLUS) != 0) {
      break;
    }
  }
  return 0;
}

int onOpen(const char* path, struct fuse_file_info* info) {
  uint64_t handle = 0;
  bool keepCache = false;
  const int result = fs().open(path, info->flags, handle, keepCache);
  if (result == 0) {
    info->fh = handle;
    info->keep_cache = keepCache ? 1 : 0;
  }
  return result;
}

int onCreate(const char* path, mode_t, struct fuse_file_info* info) {
  uint64_t handle = 0;
  const int result = fs().create(path, info->flags, handle);
  if (result == 0) info->fh = handle;
  return result;
}

int onRead(const char*, char* buffer, size_t size, off_t offset, struct fuse_file_info* info) {
  return fs().read(info->fh, buffer, size, offset);
}

int onWrite(const char*, const char* buffer, size_t size, off_t offset,
            struct fuse_file_info* info) {
  return fs().write(info->fh, buffer, size, offset);
}

int onFlush(const char*, struct fuse_file_info* info) {
  return fs().flush(info->fh);
}
int onFsync(const char*, int, struct fuse_file_info* info) {
  return fs().flush(info->fh);
}
int onRelease(const char*, struct fuse_file_info* info) {
  return fs().release(info->fh);
}

int onTruncate(const char* path, off_t size, struct fuse_file_info* info) {
  return fs().truncate(path, size, info ? &info->fh : nullptr);
}

int onUnlink(const char* path) {
  return fs().unlink(path);
}
int onMkdir(const char* path, mode_t) {
  return fs().mkdir(path);
}
int onRmdir(const char* path) {
  return fs().rmdir(path);
}

int onRename(const char* from, const char* to, unsigned int flags) {
  if (flags & ~RENAME_NOREPLACE) return -EINVAL;  // RENAME_EXCHANGE has no blob equivalent
  return fs().rename(from, to, (flags & RENAME_NOREPLACE) != 0);
}

// Blob storage keeps no owners, modes or times: accept and ignore, as blobfuse does.
int onChmod(const char*, mode_t, struct fuse_file_info*) {
  return context().options.readOnly ? -EROFS : 0;
}
int onChown(const char*, uid_t, gid_t, struct fuse_file_info*) {
  return context().options.readOnly ? -EROFS : 0;
}
int onUtimens(const char*, const struct timespec[2], struct fuse_file_info*) {
  return context().options.readOnly ? -EROFS : 0;
}

int onStatfs(const char*, struct statvfs* st) {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = 1 << 20;
  st->f_frsize = 1 << 20;
  st->f_blocks = st->f_bfree = st->f_bavail = 1ull << 30;  // a petabyte: no real limit
  st->f_files = st->f_ffree = 1ull << 30;
  st->f_namemax = 1024;
  return 0;
}

fuse_operations operations() {
  fuse_operations ops{};
  ops.init = onInit;
  ops.getattr = onGetattr;
  ops.opendir = onOpendir;
  ops.readdir = onReaddir;
  ops.releasedir = onReleasedir;
  ops.open = onOpen;
  ops.create = onCreate;
  ops.read = onRead;
  ops.write = onWrite;
  ops.flush = onFlush;
  ops.fsync = onFsync;
  ops.release = onRelease;
  ops.truncate = onTruncate;
  ops.unlink = onUnlink;
  ops.mkdir = onMkdir;
  ops.rmdir = onRmdir;
  ops.rename = onRename;
  ops.chmod = onChmod;
  ops.chown = onChown;
  ops.utimens = onUtimens;
  ops.statfs = onStatfs;
  return ops;
}

constexpr std::chrono::seconds kMountStallTimeout{3};

std::unique_ptr<blob::BlobStore> openMountStore(const blob::BlobUri& uri) {
  if (uri.scheme == blob::BlobUri::Scheme::kFile) return std::make_unique<blob::FileStore>();
  // A mount answers the kernel: few, quick retries, and a short stall
  // timeout, so an unreachable or stalled store gives EIO instead of hanging
  // the caller: within 3 x (kMountStallTimeout + up to 1 s until curl checks
  // the rate) + 1.2 s of backoff, 10-13.2 s (docs/mount.md).
  blob::azure::TransferOptions transfer = blob::azure::transferOptionsFromEnvironment();
  transfer.retry.maxAttempts = std::min(transfer.retry.maxAttempts, 3);
  transfer.retry.maxDelay = std::chrono::milliseconds(2000);
  const char* stall = std::getenv("SKIFF_BLOB_STALL_TIMEOUT");
  if (!stall || !*stall) transfer.stallTimeout = kMountStallTimeout;
  return std::make_unique<blob::azure::AzureStore>(
      uri.account, uri.container, blob::azure::credentialsFromEnvironment(uri.account), transfer);
}

void setUpLogging(const MountOptions& options) {
  std::shared_ptr<spdlog::logger> logger;
  if (options.logFile == "syslog") {
    logger = spdlog::syslog_logger_mt("skiff-mount", "skiff-mount", LOG_PID);
  } else {
    logger = spdlog::basic_logger_mt("skiff-mount", options.logFile);
  }
  const auto level = spdlog::level::from_str(options.logLevel);
  logger->set_level(level);
  // Warnings at once; everything at once for whoever asked for debug output.
  logger->flush_on(std::min(level, spdlog::level::warn));
  spdlog::set_default_logger(logger);
}

std::string defaultCacheDir(const std::string& mountPoint) {
  const std::string base =
      ::getuid() == 0 ? "/var/cache/skiff" : "/tmp/skiff-" + std::to_string(::getuid());
  return base + "/mount-" + std::to_string(std::hash<std::string>{}(mountPoint));
}

}  // namespace

int runMount(MountOptions options) {
  // Two malloc arenas, not one per thread: FUSE's threads and the listings
  // ahead each left freed listing memory in arenas of their own (1,000,000
  // names: 590 MiB peak with the default, 385 MiB with two). Before any thread.
  ::mallopt(M_ARENA_MAX, 2);
  // Block and chunk buffers (MiB each) always mapped, so freeing one returns
  // it: glibc otherwise raises its mmap threshold after the first free, and
  // later buffers stay in the heap at the run's peak (the soak saw a
  // read-write mount climb 17 -> 59 MiB and stay there).
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  const blob::BlobUri uri = blob::parseBlobUri(options.uri);
  std::error_code error;
  options.mountPoint = std::filesystem::absolute(options.mountPoint).lexically_normal().string();
  if (!std::filesystem::is_directory(options.mountPoint, error)) {
    throw Error("the mount point is not a directory", options.mountPoint,
                "create it first: mkdir -p " + options.mountPoint);
  }
  if (options.cacheDir.empty()) options.cacheDir = defaultCacheDir(options.mountPoint);
  std::filesystem::create_directories(options.cacheDir, error);
  if (error) {
    throw Error("cannot create the cache directory: " + error.message(), options.cacheDir,
                "choose another with --cache-dir");
  }
  if (options.logFile.empty()) options.logFile = options.cacheDir + "/mount.log";

  // Fail here, on the user's terminal, when the store cannot be read.
  std::string prefix = uri.path;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  {
    auto probe = openMountStore(uri);
    blob::ListOptions list;
    list.prefix = prefix;
    // A file:// store lists a prefix without a delimiter by walking the whole
    // tree below it: one level instead. (Azurite is slow with one.)
    if (uri.scheme == blob::BlobUri::Scheme::kFile) list.delimiter = "/";
    list.maxResults = 1;
    probe->list(list);
  }

  // One mount per cache directory: another would clean data/ (and move
  // its changed files to recovered/) under it. The lock goes with the
  // process, also when it is killed.
  const int lock = ::open((options.cacheDir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (lock >= 0) ::close(lock);
    throw Error("the cache directory is in use by another mount", options.cacheDir,
                "give each mount a --cache-dir of its own");
  }
  struct LockGuard {
    int fd;
    ~LockGuard() { ::close(fd); }
  } lockGuard{lock};
  // What an earlier mount of this cache changed and never uploaded (it was
  // killed before close or fsync): kept, not uploaded, and said here.
  const auto recovered = FileCache::recover(options.cacheDir);
  if (!recovered.empty()) {
    std::cerr << fmt::format(
        "skiff mount: {} file{} recovered in {}: changed through an earlier mount of this cache "
        "but never closed or synced, so not uploaded (the store keeps its version)\n",
        recovered.size(), recovered.size() == 1 ? "" : "s",
        (std::filesystem::path(options.cacheDir) / "recovered").string());
  }

  std::vector<std::string> arguments = {"skiff", "-o", "fsname=skiff:" + uri.toString(), "-o",
                                        "subtype=skiff"};
  if (options.allowOther) arguments.insert(arguments.end(), {"-o", "allow_other"});
  if (options.readOnly) arguments.insert(arguments.end(), {"-o", "ro"});
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  // fuse_new may copy the arguments into memory of its own: free it on every way out.
  struct ArgsGuard {
    fuse_args* args;
    ~ArgsGuard() { fuse_opt_free_args(args); }
  } argsGuard{&args};

  MountContext mount{options, nullptr};
  const fuse_operations ops = operations();
  fuse* session = fuse_new(&args, &ops, sizeof ops, &mount);
  if (!session) throw Error("cannot set up FUSE", options.mountPoint, "is fuse3 installed?");
  if (fuse_mount(session, options.mountPoint.c_str()) != 0) {
    fuse_destroy(session);
    throw Error("cannot mount", options.mountPoint,
                "is /dev/fuse there, the directory empty and not mounted already?");
  }
  // Threads do not survive fork: everything with threads starts after this.
  // fuse_daemonize moves to /, foreground or not; back to where the mount
  // started, so that a relative --cache-dir or --log-file means what it did
  // (and keeps meaning it when that directory's path goes: skiff's CSI
  // driver relies on that).
  const int startDir = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fuse_daemonize(options.foreground ? 1 : 0) != 0) {
    fuse_unmount(session);
    fuse_destroy(session);
    throw Error("cannot daemonize", options.mountPoint);
  }
  if (startDir >= 0) {
    [[maybe_unused]] const int back = ::fchdir(startDir);
    ::close(startDir);
  }
  setUpLogging(options);
  spdlog::info("mounted {} at {} (cache {}, timeout {}s{})", uri.toString(), options.mountPoint,
               options.cacheDir, options.cacheTimeoutSeconds,
               options.readOnly ? ", read-only" : "");
  for (const auto& file : recovered) {
    spdlog::warn(
        "{}: changed through an earlier mount but never closed or synced, not uploaded; "
        "kept at {}",
        file.name, file.path.string());
  }
  mount.fs = std::make_unique<BlobFs>(openMountStore(uri), prefix, options);
  fuse_set_signal_handlers(fuse_get_session(session));
  fuse_loop_config loop{};
  loop.clone_fd = 0;
  loop.max_idle_threads = 16;
  const int result = fuse_loop_mt(session, &loop);
  fuse_remove_signal_handlers(fuse_get_session(session));
  fuse_unmount(session);
  mount.fs.reset();
  fuse_destroy(session);
  spdlog::info("unmounted {}", options.mountPoint);
  spdlog::shutdown();
  return result == 0 ? 0 : 1;
}

void unmount(const std::string& mountPoint) {
  const std::string path = std::filesystem::absolute(mountPoint).lexically_normal().string();
  // Requests still in flight (kernel read-ahead) keep the mount busy for a moment.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int error = 0;
  while (::umount2(path.c_str(), 0) != 0) {
    error = errno;
    if (error != EBUSY || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (error == 0) return;
  if (error == EPERM) {
    // Not root: fusermount3 may unmount the user's own FUSE mounts.
    const auto result = runCommand({"fusermount3", "-u", path});
    if (result.exitCode == 0) return;
    throw Error("cannot unmount: " + result.err, path);
  }
  throw Error(std::string("cannot unmount: ") + std::strerror(error), path,
              error == EINVAL ? "it is not a mount point" : "is a process using it? (fuser -m)");
}

}  // namespace skiff::mount
