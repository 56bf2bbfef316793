#pragma once

#include <map>
#include <string>

namespace skiff::image {

using Environment = std::map<std::string, std::string>;

// This process's environment, read once per build and passed down, so tests
// and callers can see exactly which variables a build used.
Environment processEnvironment();

// The value of `name`, or `fallback` when it is unset or empty.
std::string envOr(const Environment& env, const std::string& name,
                  const std::string& fallback = {});

}  // namespace skiff::image
