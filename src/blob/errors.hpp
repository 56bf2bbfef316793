#pragma once

#include <string>

#include "common/error.hpp"

namespace skiff::blob {

// What went wrong, in terms callers act on (mount maps these to errno values).
enum class ErrorKind {
  kNotFound,         // the blob or container does not exist
  kConditionFailed,  // If-Match / If-None-Match failed: changed by someone else
  kAuth,             // credentials missing, wrong or not allowed
  kInvalid,          // the request cannot succeed as given (bad name, bad range)
  kUnavailable,      // the store could not be reached or kept failing (retries exhausted)
  kOther,
};

// An error of the blob layer: says the blob URI, the HTTP status, the service's
// error code and request id when there is one, and what to do. Never a secret.
class BlobError : public Error {
 public:
  BlobError(ErrorKind kind, std::string what, std::string uri, std::string hint = {},
            int httpStatus = 0, std::string serviceCode = {}, std::string requestId = {});

  ErrorKind kind() const { return kind_; }
  int httpStatus() const { return httpStatus_; }
  const std::string& serviceCode() const { return serviceCode_; }
  const std::string& requestId() const { return requestId_; }
  const std::string& uri() const { return uri_; }

 private:
  ErrorKind kind_;
  std::string uri_;
  int httpStatus_;
  std::string serviceCode_;
  std::string requestId_;
};

// The message for a failed precondition, the same for every store.
BlobError changedBySomeoneElse(const std::string& uri);

}  // namespace skiff::blob
