#pragma once
// The output choice every command that prints data for scripts offers, the
// same way everywhere: `--json`, or kubectl's `-o json|yaml`.

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace skiff::cli {

struct OutputFormat {
  bool json = false;   // --json
  std::string output;  // -o: "", "json" or "yaml"

  // True when the command should print a document instead of its text.
  bool structured() const { return json || !output.empty(); }
  // Prints `document` on stdout as chosen: indented JSON, or one YAML document.
  void print(const nlohmann::json& document) const;
  // For code that writes its JSON to std::cout itself (a deploy target's
  // status): runs `writeJson`, and re-emits what it wrote as YAML under -o yaml.
  int printFrom(const std::function<int()>& writeJson) const;
};

// Adds --json and -o,--output to `command`; `what` says what the document holds.
void addOutputOptions(CLI::App& command, OutputFormat& format, const std::string& what);

}  // namespace skiff::cli
