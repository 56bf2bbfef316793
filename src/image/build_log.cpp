#include "image/build_log.hpp"

#include <fmt/format.h>

#include <regex>

namespace skiff::image {
namespace {

// buildah and podman: "[1/2] STEP 3/4: RUN x" (the stage prefix in multi-stage
// builds); docker's classic builder: "Step 3/4 : RUN x".
// buildah's commit of the image after the last step: a phase of its own.
const std::regex kCommit(R"(^COMMIT( .*)?$)");
const std::regex kStep(R"(^(?:\[\d+/\d+\] )?(?:STEP|Step) (\d+(?:/\d+)?) ?: (.*)$)");

std::string collapse(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string upperFirstWord(std::string text) {
  for (auto& c : text) {
    if (c == ' ') break;
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return text;
}

}  // namespace

BuildLog::BuildLog(LineSink out, bool quiet) : out_(std::move(out)), quiet_(quiet) {}

void BuildLog::header(const std::string& text) {
  tail_.clear();
  if (out_ && !quiet_) out_(text);
}

void BuildLog::line(std::string_view text) {
  std::match_results<std::string_view::const_iterator> match;
  if (std::regex_match(text.begin(), text.end(), match, kStep)) {
    step_ = match[1].str();
    instruction_ = match[2].str();
    header(fmt::format("==> step {}: {}", step_, instruction_));
    return;
  }
  if (std::regex_match(text.begin(), text.end(), kCommit)) {
    phase("commit" + std::string(text.substr(6)));
    return;
  }
  tail_.emplace_back(text);
  if (tail_.size() > kTailLines) tail_.pop_front();
  if (out_ && !quiet_) out_(fmt::format("    {}", text));
}

void BuildLog::showFailure() const {
  if (!out_ || !quiet_) return;
  out_(step_.empty() ? "==> builder output" : fmt::format("==> step {}: {}", step_, instruction_));
  for (const auto& line : tail_) out_(fmt::format("    {}", line));
}

void BuildLog::phase(const std::string& title) {
  header("==> " + title);
}

std::string BuildLog::lastError() const {
  for (auto it = tail_.rbegin(); it != tail_.rend(); ++it) {
    const std::string lower = [&] {
      std::string copy = *it;
      for (auto& c : copy) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return copy;
    }();
    if (lower.find("error") != std::string::npos) return *it;
  }
  return tail_.empty() ? std::string() : tail_.back();
}

std::optional<int> instructionLine(std::string_view dockerfile, std::string_view instruction) {
  const std::string wanted = upperFirstWord(collapse(instruction));
  std::string logical;
  int start = 0;
  int number = 0;
  size_t at = 0;
  while (at <= dockerfile.size()) {
    const auto end = std::min(dockerfile.find('\n', at), dockerfile.size());
    std::string_view text = dockerfile.substr(at, end - at);
    at = end + 1;
    ++number;
    const std::string trimmed = collapse(text);
    if (logical.empty() && (trimmed.empty() || trimmed[0] == '#')) continue;
    if (logical.empty()) start = number;
    if (!trimmed.empty() && trimmed.back() == '\\') {
      logical += trimmed.substr(0, trimmed.size() - 1) + " ";
      continue;
    }
    logical += trimmed;
    if (upperFirstWord(collapse(logical)) == wanted) return start;
    logical.clear();
  }
  return std::nullopt;
}

}  // namespace skiff::image
