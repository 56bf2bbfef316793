#include "common/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace skiff {

std::string humanBytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

bool ProgressBar::stderrIsTerminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

ProgressBar::ProgressBar(std::string label, std::optional<uint64_t> totalBytes, bool enabled)
    : label_(std::move(label)),
      total_(totalBytes.value_or(0)),
      knownTotal_(totalBytes.has_value()),
      enabled_(enabled) {}

ProgressBar::~ProgressBar() {
  finish();
}

double ProgressBar::elapsedSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::add(uint64_t bytes) {
  done_ += bytes;
  if (!enabled_) return;
  std::unique_lock lock(drawMutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is drawing; skip, never wait
  const auto now = std::chrono::steady_clock::now();
  if (now - lastDraw_ < std::chrono::milliseconds(100)) return;
  lastDraw_ = now;
  draw(false);
}

void ProgressBar::addTotal(uint64_t bytes) {
  total_ += bytes;
  knownTotal_ = true;
}

void ProgressBar::finish() {
  std::lock_guard lock(drawMutex_);
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void ProgressBar::draw(bool final) {
  const double seconds = std::max(elapsedSeconds(), 1e-3);
  const uint64_t done = done_;
  const double rate = static_cast<double>(done) / seconds;
  std::string line = fmt::format("{}  {}", label_, humanBytes(done));
  if (knownTotal_) line += " / " + humanBytes(total_);
  line += fmt::format("  {}/s", humanBytes(static_cast<uint64_t>(rate)));
  if (knownTotal_ && !final && rate > 0 && total_ > done) {
    const auto eta = static_cast<uint64_t>(static_cast<double>(total_ - done) / rate);
    line += fmt::format("  ETA {}:{:02d}", eta / 60, eta % 60);
  }
  if (final) line += fmt::format("  in {:.1f}s", seconds);
  // \r and "erase line" redraw in place; the final line ends with a newline.
  std::fprintf(stderr, "\r\033[2K%s%s", line.c_str(), final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace skiff
