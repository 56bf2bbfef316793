#pragma once

#include <stdexcept>
#include <string>

namespace skiff::http {

// A problem with a request, answered with this HTTP status and message
// (the model server's and the dashboard's handlers throw it).
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

}  // namespace skiff::http
