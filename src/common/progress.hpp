#pragma once

// A progress line for long transfers: bytes, rate and ETA, redrawn at most
// ten times a second on stderr, and only when stderr is a terminal.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace skiff {

class ProgressBar {
 public:
  // `enabled` false keeps it silent (not a terminal, --json, --quiet).
  ProgressBar(std::string label, std::optional<uint64_t> totalBytes, bool enabled);
  ~ProgressBar();

  void add(uint64_t bytes);  // thread-safe
  void addTotal(uint64_t bytes);
  void finish();  // draws the final line and ends it
  uint64_t done() const { return done_; }
  double elapsedSeconds() const;

  static bool stderrIsTerminal();

 private:
  void draw(bool final);

  std::string label_;
  std::atomic<uint64_t> total_;
  bool knownTotal_;
  bool enabled_;
  bool finished_ = false;
  std::atomic<uint64_t> done_{0};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastDraw_{};
  std::mutex drawMutex_;
};

// "1.5 MiB", "300.0 MiB", "12 B".
std::string humanBytes(uint64_t bytes);

}  // namespace skiff
