#pragma once

// Build output as it streams from a builder: lines that start a step
// ("STEP 2/5: RUN make" from buildah and podman, "Step 2/5 : RUN make" from
// docker) become headers, the rest is indented under them, and the last lines
// of the current step are kept for the error when the step fails.

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace skiff::image {

using LineSink = std::function<void(std::string_view line)>;

class BuildLog {
 public:
  static constexpr size_t kTailLines = 20;

  // `out` receives formatted lines; with `quiet` it gets only the failing
  // step's last lines, from showFailure().
  BuildLog(LineSink out, bool quiet);

  void line(std::string_view text);
  // Starts a phase that is not a Dockerfile step (commit, push).
  void phase(const std::string& title);

  const std::string& step() const { return step_; }                // "2/5", empty before the first
  const std::string& instruction() const { return instruction_; }  // "RUN make"
  const std::deque<std::string>& tail() const { return tail_; }
  // The last line that reads like an error message, or the last line.
  std::string lastError() const;
  // When quiet, prints the current step and its last lines (they were not streamed).
  void showFailure() const;

 private:
  void header(const std::string& text);

  LineSink out_;
  bool quiet_;
  std::string step_;
  std::string instruction_;
  std::deque<std::string> tail_;
};

// The 1-based line of the Dockerfile instruction printed as `instruction`
// (continuation lines joined, whitespace collapsed), when it can be found.
std::optional<int> instructionLine(std::string_view dockerfile, std::string_view instruction);

}  // namespace skiff::image
