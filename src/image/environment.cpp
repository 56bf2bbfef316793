#include "image/environment.hpp"

extern char** environ;

namespace skiff::image {

Environment processEnvironment() {
  Environment env;
  for (char** entry = environ; *entry; ++entry) {
    const std::string item(*entry);
    const auto eq = item.find('=');
    if (eq != std::string::npos) env[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return env;
}

std::string envOr(const Environment& env, const std::string& name, const std::string& fallback) {
  const auto found = env.find(name);
  return found == env.end() || found->second.empty() ? fallback : found->second;
}

}  // namespace skiff::image
