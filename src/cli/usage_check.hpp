#pragma once

// Mistyped command lines, caught before CLI11 parses them: an unknown
// subcommand or long option at any level gets the closest known one and the
// list of the known ones, where CLI11 says only "A subcommand is required" or
// "The following argument was not expected".

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace skiff::cli {

// The message for the first unknown subcommand or long option of `args`
// (argv without the program name) against the commands of `root`; nothing
// when every word is known.
std::optional<std::string> findUsageMistake(const CLI::App& root,
                                            const std::vector<std::string>& args);

}  // namespace skiff::cli
