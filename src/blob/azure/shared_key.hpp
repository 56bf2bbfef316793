#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skiff::blob::azure {

// The parts of a request that Shared Key signs.
struct SignedRequest {
  std::string method;
  std::string urlPath;  // as sent (percent-encoded), starting with '/'
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  size_t contentLength = 0;
};

// The Authorization header value ("SharedKey ACCOUNT:SIGNATURE") for a request
// signed with the decoded account key,
// per "Authorize with Shared Key" for the Blob service (version 2009-09-19+).
std::string sharedKeyAuthorization(const SignedRequest& request, const std::string& account,
                                   const std::string& keyBytes);

std::string base64Encode(std::string_view bytes);
std::string base64Decode(std::string_view text);  // throws skiff::Error when malformed

}  // namespace skiff::blob::azure
