// Option validators shared by the commands: one parser per kind of value, so
// a duration means the same on every command line, config file and skiff.yaml.

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "common/text.hpp"

namespace skiff::cli {

CLI::Validator durationValidator(bool positive) {
  return CLI::Validator(
      [positive](std::string& value) {
        const auto seconds = parseDurationSeconds(value);
        if (!seconds || (positive && *seconds <= 0)) {
          return fmt::format("\"{}\" is not a duration{} ({})", value,
                             positive ? " above zero" : "", kDurationRule);
        }
        value = fmt::format("{}", *seconds);  // what a seconds option reads
        return std::string();
      },
      "DURATION");
}

CLI::Validator byteSizeValidator() {
  return CLI::Validator(
      [](std::string& value) {
        return parseByteSize(value) ? std::string()
                                    : "\"" + value + "\" is not a size (e.g. 512Mi, 10Gi)";
      },
      "SIZE");
}

}  // namespace skiff::cli
