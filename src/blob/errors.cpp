#include "blob/errors.hpp"

#include <fmt/format.h>

namespace skiff::blob {
namespace {

std::string describe(const std::string& what, int httpStatus, const std::string& serviceCode,
                     const std::string& requestId) {
  std::string text = what;
  if (httpStatus != 0) text += fmt::format(" [HTTP {}", httpStatus);
  if (!serviceCode.empty()) text += (httpStatus ? " " : " [") + serviceCode;
  if (!requestId.empty()) text += ", request id " + requestId;
  if (httpStatus != 0 || !serviceCode.empty()) text += "]";
  return text;
}

}  // namespace

BlobError::BlobError(ErrorKind kind, std::string what, std::string uri, std::string hint,
                     int httpStatus, std::string serviceCode, std::string requestId)
    : Error(describe(what, httpStatus, serviceCode, requestId), uri, std::move(hint)),
      kind_(kind),
      uri_(std::move(uri)),
      httpStatus_(httpStatus),
      serviceCode_(std::move(serviceCode)),
      requestId_(std::move(requestId)) {}

BlobError changedBySomeoneElse(const std::string& uri) {
  return BlobError(ErrorKind::kConditionFailed,
                   "the blob was changed by someone else since it was read", uri,
                   "read it again and retry; nothing was overwritten");
}

}  // namespace skiff::blob
