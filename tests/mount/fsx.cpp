// skiff_fsx: a random-operation file system exerciser (after fsx), run in a
// directory of a mount. Each of --files files gets random operations, picked
// from a small weighted table, against a shadow copy in memory: reads at
// random places (through the open descriptor, a new one and mmap), small and
// 1 MiB writes, sequential runs from empty that the mount sends up in blocks
// while they are written, truncations up and down (by descriptor, by path and
// by an O_TRUNC open beside a writer), holes, mmap writes (MAP_SHARED and
// msync), O_APPEND writes, fsync, close and reopen; sizes are drawn near every
// upload threshold (the block size, the streaming threshold, half the cache
// and the whole cache). Any failed call or difference prints the seed, the
// op, the file, the range and the first differing byte, and exits 1. At the
// end it closes every file, reads each back whole, and prints each shadow's
// size and SHA-256 (and writes the shadows under --shadow-out), so that the
// caller can check the store.
//
// Deterministic for a seed (std::mt19937_64): the same options make the same
// calls with the same bytes, so a failing seed replays by hand.

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/sha.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

struct Options {
  std::string dir;
  uint64_t seed = 1;
  uint64_t ops = 1000;
  int files = 3;
  uint64_t maxSize = 64 * kMiB;
  uint64_t blockSize = 8 * kMiB;   // the store's block (Put Block) size
  uint64_t streamFrom = 8 * kMiB;  // a file written from empty goes up while written past this
  uint64_t cacheSize = 0;          // the mount's --cache-size, when its thresholds matter
  std::string shadowOut;
  bool verbose = false;
};

struct File {
  std::string name;
  std::filesystem::path path;
  std::string shadow;  // what the file must hold
  int fd = -1;         // O_RDWR, opened when an operation needs it
  int appendFd = -1;   // O_WRONLY | O_APPEND, opened by the append operation
};

// What one operation did, for the report of a failure.
struct Step {
  uint64_t op = 0;
  size_t file = 0;
  const char* name = "";
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t sizeAfter = 0;
};

std::string hexDigest(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  for (const unsigned char byte : digest) hex += fmt::format("{:02x}", byte);
  return hex;
}

class Exerciser {
 public:
  explicit Exerciser(Options options) : options_(std::move(options)), random_(options_.seed) {
    thresholds_ = {0,
                   1,
                   4 * kKiB,
                   128 * kKiB,
                   kMiB,
                   4 * kMiB,
                   options_.blockSize,
                   options_.streamFrom,
                   2 * options_.blockSize,
                   3 * options_.blockSize};
    if (options_.cacheSize)
      thresholds_.insert(thresholds_.end(), {options_.cacheSize / 2, options_.cacheSize});
    std::erase_if(thresholds_, [&](uint64_t size) { return size > options_.maxSize; });
    for (int i = 0; i < options_.files; ++i) {
      File file;
      file.name = fmt::format("fsx-{}.bin", i);
      file.path = std::filesystem::path(options_.dir) / file.name;
      files_.push_back(std::move(file));
    }
  }

  int run() {
    for (auto& file : files_) {
      // A fresh start: whatever an earlier run left is replaced.
      file.fd = ::open(file.path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
      if (file.fd < 0) fail(file, 0, 0, call("open(O_CREAT | O_TRUNC)"));
    }
    uint64_t totalWeight = 0;
    for (const auto& entry : table()) totalWeight += entry.weight;
    for (op_ = 1; op_ <= options_.ops; ++op_) {
      File& file = files_[below(files_.size())];
      uint64_t pick = below(totalWeight);
      const Entry* chosen = &table().front();
      for (const auto& entry : table()) {
        if (pick < entry.weight) {
          chosen = &entry;
          break;
        }
        pick -= entry.weight;
      }
      step_ = {op_, index(file), chosen->name, 0, 0, 0};
      (this->*chosen->run)(file);
      step_.sizeAfter = file.shadow.size();
      steps_.push_back(step_);
      if (options_.verbose) {
        std::cerr << fmt::format("op {} {} {} offset {} length {} size {}\n", op_, file.name,
                                 step_.name, step_.offset, step_.length, step_.sizeAfter);
      }
    }
    return finish();
  }

 private:
  using Operation = void (Exerciser::*)(File&);
  struct Entry {
    const char* name;
    uint64_t weight;
    Operation run;
  };

  static const std::vector<Entry>& table() {
    static const std::vector<Entry> operations = {
        {"read", 10, &Exerciser::read},
        {"read-new-fd", 4, &Exerciser::readNewDescriptor},
        {"mmap-read", 3, &Exerciser::mmapRead},
        {"write", 10, &Exerciser::write},
        {"write-large", 4, &Exerciser::writeLarge},
        {"rewrite", 1, &Exerciser::rewrite},
        {"hole", 2, &Exerciser::hole},
        {"mmap-write", 3, &Exerciser::mmapWrite},
        {"append", 3, &Exerciser::append},
        {"truncate", 3, &Exerciser::truncate},
        {"truncate-path", 1, &Exerciser::truncatePath},
        {"open-trunc", 1, &Exerciser::openTruncate},
        {"fsync", 2, &Exerciser::fsync},
        {"close", 3, &Exerciser::close},
        {"stat", 2, &Exerciser::stat},
    };
    return operations;
  }

  // --- operations -------------------------------------------------------

  void read(File& file) {
    const int fd = ensureOpen(file);
    const uint64_t offset = below(file.shadow.size() + 1);
    const uint64_t length = 1 + below(chance(4) ? kMiB : 64 * kKiB);
    verify(file, fd, offset, length, "pread");
  }

  void readNewDescriptor(File& file) {
    const int fd = ::open(file.path.c_str(), O_RDONLY);
    if (fd < 0) fail(file, 0, 0, call("open(O_RDONLY)"));
    const uint64_t offset = below(file.shadow.size() + 1);
    const uint64_t length = 1 + below(chance(3) ? 4 * kMiB : 256 * kKiB);
    verify(file, fd, offset, length, "pread on a new descriptor");
    if (::close(fd) != 0) fail(file, offset, length, call("close of a read-only descriptor"));
  }

  void mmapRead(File& file) {
    if (file.shadow.empty()) return read(file);
    const int fd = ensureOpen(file);
    const uint64_t offset = below(file.shadow.size());
    const uint64_t length = 1 + below(std::min<uint64_t>(file.shadow.size() - offset, kMiB));
    note(offset, length);
    Mapping map(fd, offset, length, PROT_READ);
    if (!map.data()) fail(file, offset, length, call("mmap(PROT_READ, MAP_SHARED)"));
    compare(file, offset, std::string_view(map.data(), length), length, "mmap read");
  }

  void write(File& file) {
    const int fd = ensureOpen(file);
    const uint64_t offset = below(file.shadow.size() + 1);
    const uint64_t length = 1 + below(chance(4) ? 256 * kKiB : 16 * kKiB);
    writeAt(file, fd, offset, length);
  }

  // 1 MiB writes one after another, from the end (growing the file past the
  // next threshold) or from inside it.
  void writeLarge(File& file) {
    const int fd = ensureOpen(file);
    const uint64_t offset = chance(2) ? file.shadow.size() : below(file.shadow.size() + 1);
    const uint64_t end = std::max(offset + kMiB, sizeAbove(offset));
    note(offset, end - offset);
    for (uint64_t at = offset; at < end && at < options_.maxSize; at += kMiB) {
      writeAt(file, fd, at, std::min(kMiB, end - at), false);
    }
  }

  // Written again from empty, in order (O_TRUNC, then 1 MiB writes): what the
  // mount sends up in blocks while it is written.
  void rewrite(File& file) {
    closeAll(file);
    file.fd = ::open(file.path.c_str(), O_RDWR | O_TRUNC);
    if (file.fd < 0) fail(file, 0, 0, call("open(O_RDWR | O_TRUNC)"));
    const uint64_t end = std::max(options_.streamFrom + 1, sizeAbove(options_.streamFrom));
    note(0, std::max<uint64_t>(end, file.shadow.size()));
    file.shadow.clear();
    for (uint64_t at = 0; at < end && at < options_.maxSize; at += kMiB) {
      writeAt(file, file.fd, at, std::min(kMiB, end - at), false);
    }
  }

  void hole(File& file) {
    const int fd = ensureOpen(file);
    const uint64_t gap = 1 + below(chance(3) ? 4 * kMiB : 64 * kKiB);
    writeAt(file, fd, file.shadow.size() + gap, 1 + below(16 * kKiB));
  }

  void mmapWrite(File& file) {
    if (file.shadow.empty()) return write(file);
    const int fd = ensureOpen(file);
    const uint64_t offset = below(file.shadow.size());
    const uint64_t length = 1 + below(std::min<uint64_t>(file.shadow.size() - offset, 256 * kKiB));
    note(offset, length);
    const std::string bytes = randomBytes(length);
    Mapping map(fd, offset, length, PROT_READ | PROT_WRITE);
    if (!map.data()) fail(file, offset, length, call("mmap(PROT_WRITE, MAP_SHARED)"));
    std::memcpy(map.data(), bytes.data(), length);
    if (!map.sync()) fail(file, offset, length, call("msync(MS_SYNC)"));
    file.shadow.replace(offset, length, bytes);
  }

  void append(File& file) {
    if (file.appendFd < 0) {
      file.appendFd = ::open(file.path.c_str(), O_WRONLY | O_APPEND);
      if (file.appendFd < 0) fail(file, 0, 0, call("open(O_APPEND)"));
    }
    const uint64_t offset = file.shadow.size();
    const uint64_t length = 1 + below(chance(4) ? kMiB : 8 * kKiB);
    note(offset, length);
    if (offset + length > options_.maxSize) return;
    const std::string bytes = randomBytes(length);
    const ssize_t written = ::write(file.appendFd, bytes.data(), bytes.size());
    if (written != static_cast<ssize_t>(bytes.size())) {
      fail(file, offset, length, written < 0 ? call("write(O_APPEND)") : "a short O_APPEND write");
    }
    file.shadow += bytes;
    expectSize(file, file.appendFd, "fstat after an O_APPEND write");
  }

  void truncate(File& file) {
    const int fd = ensureOpen(file);
    const uint64_t size = newSize(file);
    noteCut(file, size);
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail(file, size, 0, call("ftruncate"));
    file.shadow.resize(size, '\0');
    expectSize(file, fd, "fstat after ftruncate");
  }

  void truncatePath(File& file) {
    const uint64_t size = newSize(file);
    noteCut(file, size);
    if (::truncate(file.path.c_str(), static_cast<off_t>(size)) != 0) {
      fail(file, size, 0, call("truncate(path)"));
    }
    file.shadow.resize(size, '\0');
  }

  // Emptied by a second descriptor (O_TRUNC) while the first is still open,
  // as `: > file` beside a writer; then a little is written through it.
  void openTruncate(File& file) {
    ensureOpen(file);
    const int fd = ::open(file.path.c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) fail(file, 0, 0, call("open(O_WRONLY | O_TRUNC) beside a writer"));
    const uint64_t old = file.shadow.size();
    file.shadow.clear();
    writeAt(file, fd, 0, below(64 * kKiB));
    note(0, std::max<uint64_t>(old, file.shadow.size()));
    if (::close(fd) != 0)
      fail(file, 0, file.shadow.size(), call("close of the O_TRUNC descriptor"));
    expectSize(file, file.fd, "fstat of the first descriptor after an O_TRUNC open");
  }

  void fsync(File& file) {
    const int fd = file.appendFd >= 0 && chance(2) ? file.appendFd : ensureOpen(file);
    note(0, file.shadow.size());
    if (::fsync(fd) != 0) fail(file, 0, file.shadow.size(), call("fsync"));
  }

  void close(File& file) {
    note(0, file.shadow.size());
    closeAll(file);
  }

  void stat(File& file) {
    const int fd = ensureOpen(file);
    expectSize(file, fd, "fstat");
    struct stat st {};
    if (::stat(file.path.c_str(), &st) != 0) fail(file, 0, 0, call("stat"));
    if (static_cast<uint64_t>(st.st_size) != file.shadow.size()) {
      fail(file, 0, 0,
           fmt::format("stat says {} bytes, the shadow has {}", st.st_size, file.shadow.size()));
    }
  }

  // --- helpers ----------------------------------------------------------

  // A MAP_SHARED mapping of [offset, offset + length), from the page below offset.
  class Mapping {
   public:
    Mapping(int fd, uint64_t offset, uint64_t length, int protection) {
      const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
      start_ = offset / page * page;
      length_ = offset + length - start_;
      base_ = ::mmap(nullptr, length_, protection, MAP_SHARED, fd, static_cast<off_t>(start_));
      if (base_ == MAP_FAILED) base_ = nullptr;
      at_ = offset - start_;
    }
    ~Mapping() {
      if (base_) ::munmap(base_, length_);
    }
    char* data() const { return base_ ? static_cast<char*>(base_) + at_ : nullptr; }
    bool sync() const { return ::msync(base_, length_, MS_SYNC) == 0; }

   private:
    void* base_ = nullptr;
    uint64_t start_ = 0;
    uint64_t length_ = 0;
    uint64_t at_ = 0;
  };

  uint64_t below(uint64_t bound) { return bound ? random_() % bound : 0; }
  bool chance(uint64_t oneIn) { return below(oneIn) == 0; }
  size_t index(const File& file) const { return static_cast<size_t>(&file - files_.data()); }

  std::string randomBytes(uint64_t length) {
    std::string bytes(length, '\0');
    for (uint64_t at = 0; at < length; at += 8) {
      const uint64_t value = random_();
      std::memcpy(bytes.data() + at, &value, std::min<uint64_t>(8, length - at));
    }
    return bytes;
  }

  // A size near one of the thresholds (on it, a byte or a page either side,
  // or a little more), or anywhere up to --max-size.
  uint64_t interestingSize() {
    if (chance(3)) return below(options_.maxSize + 1);
    const uint64_t threshold = thresholds_[below(thresholds_.size())];
    const int64_t deltas[] = {0, -1, 1, -4096, 4096, static_cast<int64_t>(below(256 * kKiB))};
    const int64_t delta = deltas[below(std::size(deltas))];
    const auto size = static_cast<int64_t>(threshold) + delta;
    return static_cast<uint64_t>(
        std::clamp<int64_t>(size, 0, static_cast<int64_t>(options_.maxSize)));
  }
  // A size past `from`: the next threshold above it (and a little), or some MiB.
  uint64_t sizeAbove(uint64_t from) {
    for (const uint64_t threshold : thresholds_) {
      if (threshold > from && chance(2)) {
        return std::min(options_.maxSize, threshold + below(2) * below(2 * kMiB));
      }
    }
    return std::min(options_.maxSize, from + (1 + below(12)) * kMiB);
  }
  uint64_t newSize(const File& file) {
    if (chance(2)) return interestingSize();
    const uint64_t size = file.shadow.size();
    return chance(2) ? below(size + 1) : std::min(options_.maxSize, size + below(2 * kMiB));
  }

  void note(uint64_t offset, uint64_t length) {
    step_.offset = offset;
    step_.length = length;
  }
  // A change of size touches the bytes between the old size and the new.
  void noteCut(const File& file, uint64_t size) {
    const uint64_t old = file.shadow.size();
    note(std::min(size, old), std::max(size, old) - std::min(size, old));
  }

  int ensureOpen(File& file) {
    if (file.fd < 0) {
      file.fd = ::open(file.path.c_str(), O_RDWR);
      if (file.fd < 0) fail(file, 0, 0, call("open(O_RDWR)"));
    }
    return file.fd;
  }

  // Closing a descriptor uploads the file: its result is the upload's.
  void closeAll(File& file) {
    for (int* fd : {&file.appendFd, &file.fd}) {
      if (*fd < 0) continue;
      const int closing = *fd;
      *fd = -1;
      if (::close(closing) != 0) fail(file, 0, file.shadow.size(), call("close"));
    }
  }

  // Writes `length` new bytes at `offset` (zeros fill a hole) into the file
  // and the shadow; nothing past --max-size.
  void writeAt(File& file, int fd, uint64_t offset, uint64_t length, bool record = true) {
    if (offset >= options_.maxSize) return;
    length = std::min(length, options_.maxSize - offset);
    if (record) note(offset, length);
    const std::string bytes = randomBytes(length);
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t written =
          ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) fail(file, offset, length, written < 0 ? call("pwrite") : "pwrite wrote 0");
      done += static_cast<size_t>(written);
    }
    if (file.shadow.size() < offset + length) file.shadow.resize(offset + length, '\0');
    file.shadow.replace(offset, length, bytes);
  }

  // Reads [offset, offset + length) through `fd` and compares it with the
  // shadow: the bytes there, and a short read exactly at the end.
  void verify(File& file, int fd, uint64_t offset, uint64_t length, const char* what) {
    note(offset, length);
    std::string got(length, '\0');
    size_t done = 0;
    while (done < length) {
      const ssize_t count =
          ::pread(fd, got.data() + done, length - done, static_cast<off_t>(offset + done));
      if (count < 0 && errno == EINTR) continue;
      if (count < 0) fail(file, offset, length, call(what));
      if (count == 0) break;
      done += static_cast<size_t>(count);
    }
    got.resize(done);
    compare(file, offset, got, length, what);
  }

  void compare(const File& file, uint64_t offset, std::string_view got, uint64_t wanted,
               const char* what) {
    const uint64_t size = file.shadow.size();
    const uint64_t expected = offset >= size ? 0 : std::min(wanted, size - offset);
    const std::string_view want =
        std::string_view(file.shadow)
            .substr(std::min<uint64_t>(offset, size), static_cast<size_t>(expected));
    const size_t common = std::min(got.size(), want.size());
    for (size_t at = 0; at < common; ++at) {
      if (got[at] == want[at]) continue;
      size_t differing = 0;
      size_t last = at;
      for (size_t rest = at; rest < common; ++rest) {
        if (got[rest] != want[rest]) {
          ++differing;
          last = rest;
        }
      }
      fail(file, offset, wanted,
           fmt::format("{}: byte {} is 0x{:02x}, expected 0x{:02x} ({} bytes differ, the last at "
                       "{}; the file's size is {})",
                       what, offset + at, static_cast<unsigned char>(got[at]),
                       static_cast<unsigned char>(want[at]), differing, offset + last, size),
           offset + at);
    }
    if (got.size() != want.size()) {
      fail(file, offset, wanted,
           fmt::format("{}: {} bytes read, expected {} (the file's size is {})", what, got.size(),
                       want.size(), size),
           offset + common);
    }
  }

  void expectSize(const File& file, int fd, const char* what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(file, 0, 0, call(what));
    if (static_cast<uint64_t>(st.st_size) != file.shadow.size()) {
      fail(file, 0, 0,
           fmt::format("{} says {} bytes, the shadow has {}", what, st.st_size, file.shadow.size()),
           std::min<uint64_t>(static_cast<uint64_t>(st.st_size), file.shadow.size()));
    }
  }

  static std::string call(const std::string& what) {
    return fmt::format("{} failed: {} (errno {})", what, std::strerror(errno), errno);
  }

  // Reports a failure with what it takes to replay it, and exits 1.
  [[noreturn]] void fail(const File& file, uint64_t offset, uint64_t length,
                         const std::string& problem, uint64_t byte = UINT64_MAX) {
    std::cerr << fmt::format(
        "skiff_fsx: FAILED: seed {}, op {} ({}), file {}, offset {}, length {}: {}\n",
        options_.seed, op_, step_.name, file.path.string(), offset, length, problem);
    // The operations that last changed the byte in question (or the file).
    std::cerr << "the last operations on this file that touched "
              << (byte == UINT64_MAX ? std::string("it") : fmt::format("byte {}", byte)) << ":\n";
    int shown = 0;
    for (auto it = steps_.rbegin(); it != steps_.rend() && shown < 12; ++it) {
      if (it->file != index(file)) continue;
      const bool touches =
          byte == UINT64_MAX ||
          (byte >= it->offset && byte < it->offset + std::max<uint64_t>(it->length, 1));
      if (!touches) continue;
      std::cerr << fmt::format("  op {} {} offset {} length {}, size after {}\n", it->op, it->name,
                               it->offset, it->length, it->sizeAfter);
      ++shown;
    }
    std::cerr << fmt::format(
        "replay: skiff_fsx --dir {} --seed {} --ops {} --files {} --max-size {} --block-size {} "
        "--stream-from {}{}\n",
        options_.dir, options_.seed, op_, options_.files, options_.maxSize, options_.blockSize,
        options_.streamFrom,
        options_.cacheSize ? fmt::format(" --cache-size {}", options_.cacheSize) : "");
    std::exit(1);
  }

  // Closes everything (each close uploads), reads every file back whole
  // through a new descriptor, and reports the shadows.
  int finish() {
    op_ = options_.ops + 1;
    step_ = {op_, 0, "finish", 0, 0, 0};
    for (auto& file : files_) closeAll(file);
    if (!options_.shadowOut.empty()) std::filesystem::create_directories(options_.shadowOut);
    for (auto& file : files_) {
      const int fd = ::open(file.path.c_str(), O_RDONLY);
      if (fd < 0) fail(file, 0, 0, call("open(O_RDONLY) at the end"));
      verify(file, fd, 0, file.shadow.size() + 1, "the whole file, read at the end");
      ::close(fd);
      std::cout << fmt::format("{} {} {}\n", file.name, file.shadow.size(), hexDigest(file.shadow));
      if (!options_.shadowOut.empty()) {
        std::ofstream out(std::filesystem::path(options_.shadowOut) / file.name, std::ios::binary);
        out.write(file.shadow.data(), static_cast<std::streamsize>(file.shadow.size()));
        if (!out) {
          std::cerr << "skiff_fsx: cannot write the shadow of " << file.name << " under "
                    << options_.shadowOut << "\n";
          return 1;
        }
      }
    }
    return 0;
  }

  Options options_;
  std::mt19937_64 random_;
  std::vector<uint64_t> thresholds_;
  std::vector<File> files_;
  uint64_t op_ = 0;
  Step step_;
  std::vector<Step> steps_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app("A random-operation file system exerciser (fsx) for a directory in a mount");
  app.add_option("--dir", options.dir, "The directory to work in (in the mount)")->required();
  app.add_option("--seed", options.seed, "Seed of the operations and their bytes")
      ->capture_default_str();
  app.add_option("--ops", options.ops, "How many operations")->capture_default_str();
  app.add_option("--files", options.files, "How many files at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-size", options.maxSize, "Largest file size, in bytes")
      ->capture_default_str();
  app.add_option("--block-size", options.blockSize, "The store's block size (a threshold)")
      ->capture_default_str();
  app.add_option("--stream-from", options.streamFrom,
                 "Size from which the mount sends a file up while it is written (a threshold)")
      ->capture_default_str();
  app.add_option("--cache-size", options.cacheSize,
                 "The mount's --cache-size in bytes: half of it and all of it are thresholds");
  app.add_option("--shadow-out", options.shadowOut, "Write each file's final shadow here");
  app.add_flag("-v,--verbose", options.verbose, "Print every operation on stderr");
  CLI11_PARSE(app, argc, argv);
  if (options.maxSize < 2 * kMiB) {
    std::cerr << "skiff_fsx: --max-size must be at least 2 MiB\n";
    return 2;
  }
  return Exerciser(std::move(options)).run();
}
