#include <fmt/format.h>

#include <fstream>

#include "cli/commands.hpp"
#include "common/error.hpp"
#include "common/text.hpp"

namespace skiff::cli {
namespace {

std::string trimmed(const std::string& text) {
  const auto start = text.find_first_not_of(" \t\r");
  const auto end = text.find_last_not_of(" \t\r");
  return start == std::string::npos ? "" : text.substr(start, end - start + 1);
}

}  // namespace

void applyConfigFile(CLI::App& command, const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read the options file", file, "check the path given to --config");
  std::vector<std::string> known;
  for (const CLI::Option* option : command.get_options()) {
    if (!option->get_lnames().empty()) known.push_back(option->get_lnames().front());
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = trimmed(line);
    if (line.empty() || line[0] == '#') continue;
    const auto separator = line.find_first_of("=:");
    const std::string where = fmt::format("{}:{}", file, number);
    if (separator == std::string::npos) {
      throw Error("expected `key = value`", where, "e.g. cache-timeout = 30s");
    }
    const std::string key = trimmed(line.substr(0, separator));
    std::string value = trimmed(line.substr(separator + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    CLI::Option* option = key == "config" ? nullptr : command.get_option_no_throw("--" + key);
    if (!option) {
      const auto guess = closestMatch(key, known);
      throw Error(fmt::format("unknown option \"{}\"", key), where,
                  guess ? fmt::format("did you mean \"{}\"?", *guess)
                        : "options: " + joinAlternatives(known));
    }
    if (option->count() > 0) continue;  // given on the command line
    try {
      option->add_result(value);
      option->run_callback();
    } catch (const CLI::Error& e) {
      throw Error(fmt::format("bad value for \"{}\": {}", key, e.what()), where);
    }
  }
}

}  // namespace skiff::cli
