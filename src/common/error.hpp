#pragma once

#include <stdexcept>
#include <string>

namespace skiff {

// The one error type that reaches the user. Every message says what was wrong,
// where (file:line:col, URI, HTTP status, ...) and, when we know it, what to do.
class Error : public std::runtime_error {
 public:
  Error(std::string what, std::string where = {}, std::string hint = {});

  const std::string& where() const { return where_; }
  const std::string& hint() const { return hint_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string problem_;
  std::string where_;
  std::string hint_;
};

}  // namespace skiff
