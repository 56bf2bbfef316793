#include "cli/usage_check.hpp"

#include <fmt/format.h>

#include "common/text.hpp"

namespace skiff::cli {
namespace {

// Options of `command` and of its parents (the root falls through to them).
const CLI::Option* findOption(const std::vector<const CLI::App*>& chain, const std::string& name) {
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (const CLI::Option* option : (*it)->get_options()) {
      if (option->nonpositional() && option->check_name(name)) return option;
    }
  }
  return nullptr;
}

std::vector<std::string> longOptions(const std::vector<const CLI::App*>& chain) {
  std::vector<std::string> names;
  for (const CLI::App* command : chain) {
    for (const CLI::Option* option : command->get_options()) {
      for (const auto& name : option->get_lnames()) names.push_back("--" + name);
    }
  }
  return names;
}

bool takesPositionals(const CLI::App& command) {
  for (const CLI::Option* option : command.get_options()) {
    if (option->get_positional()) return true;
  }
  return false;
}

std::string commandPath(const std::vector<const CLI::App*>& chain) {
  std::string path;
  for (const CLI::App* command : chain) path += (path.empty() ? "" : " ") + command->get_name();
  return path;
}

}  // namespace

std::optional<std::string> findUsageMistake(const CLI::App& root,
                                            const std::vector<std::string>& args) {
  std::vector<const CLI::App*> chain = {&root};
  bool positionalSeen = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-') {
      const bool isLong = arg.rfind("--", 0) == 0;
      const std::string name = isLong ? arg.substr(0, arg.find('=')) : arg.substr(0, 2);
      const CLI::Option* option = findOption(chain, name);
      if (!option && isLong) {
        const auto guess = closestMatch(name, longOptions(chain));
        return fmt::format("unknown option \"{}\" for `{}` ({})", name, commandPath(chain),
                           guess ? fmt::format("did you mean \"{}\"?", *guess)
                                 : fmt::format("see `{} --help`", commandPath(chain)));
      }
      // The next word is this option's value, not a command or an option.
      const bool valueAttached = isLong ? arg.find('=') != std::string::npos : arg.size() > 2;
      if (option && option->get_type_size() != 0 && !valueAttached) ++i;
      continue;
    }
    const CLI::App* current = chain.back();
    std::vector<std::string> visible;
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : current->get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->check_name(arg)) next = sub;
      if (!sub->get_group().empty()) visible.push_back(sub->get_name());
    }
    if (next && !positionalSeen) {
      chain.push_back(next);
      continue;
    }
    if (!visible.empty() && !positionalSeen && !takesPositionals(*current)) {
      const auto guess = closestMatch(arg, visible);
      std::string message = chain.size() == 1 ? fmt::format("unknown command \"{}\"", arg)
                                              : fmt::format("unknown command \"{}\" for `{}`", arg,
                                                            commandPath(chain));
      message += guess ? fmt::format(" (did you mean \"{}\"?)", *guess) : "";
      message += fmt::format("; the commands: {}", fmt::join(visible, ", "));
      return message;
    }
    positionalSeen = true;
  }
  return std::nullopt;
}

}  // namespace skiff::cli
