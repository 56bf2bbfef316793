#include "cli/output_format.hpp"

#include <iostream>
#include <sstream>

#include "deploy/k8s/render.hpp"

namespace skiff::cli {

void OutputFormat::print(const nlohmann::json& document) const {
  if (output == "yaml") {
    std::cout << deploy::k8s::toYaml({document});
  } else {
    std::cout << document.dump(2) << "\n";
  }
}

int OutputFormat::printFrom(const std::function<int()>& writeJson) const {
  if (output != "yaml") return writeJson();
  std::ostringstream captured;
  std::streambuf* standardOut = std::cout.rdbuf(captured.rdbuf());
  int code = 0;
  try {
    code = writeJson();
  } catch (...) {
    std::cout.rdbuf(standardOut);
    throw;
  }
  std::cout.rdbuf(standardOut);
  print(nlohmann::json::parse(captured.str()));
  return code;
}

void addOutputOptions(CLI::App& command, OutputFormat& format, const std::string& what) {
  command.add_flag("--json", format.json, what + " as JSON, for scripts (= -o json)");
  command.add_option("-o,--output", format.output, what + " as json or yaml, as kubectl -o")
      ->check(CLI::IsMember({"json", "yaml"}));
}

}  // namespace skiff::cli
