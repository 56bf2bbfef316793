#include "common/error.hpp"

namespace skiff {
namespace {

std::string compose(const std::string& what, const std::string& where, const std::string& hint) {
  std::string message = where.empty() ? what : where + ": " + what;
  if (!hint.empty()) message += " (" + hint + ")";
  return message;
}

}  // namespace

Error::Error(std::string what, std::string where, std::string hint)
    : std::runtime_error(compose(what, where, hint)),
      problem_(std::move(what)),
      where_(std::move(where)),
      hint_(std::move(hint)) {}

}  // namespace skiff
