#pragma once

// A small HTTP/1.1 client over libcurl for the REST APIs skiff talks to
// (Azure Blob, Kubernetes). It keeps connections alive in a pool of curl
// handles, so concurrent requests each reuse a warm connection, and it never
// hangs: connects and stalled transfers time out.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::http {

struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // must outlive the call
  // Streams the response body; when unset, it is collected in Response::body.
  std::function<void(const char* data, size_t size)> onBody;
  // Called once the status and headers are known, before any body bytes.
  std::function<void(long status, const std::map<std::string, std::string>& headers)> onHeaders;
  bool headOnly = false;  // HEAD: no body is expected
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lowercase
  std::string body;

  std::string header(const std::string& lowercaseName) const;
};

// A connection-level failure: refused, reset, timed out, TLS. No HTTP status.
class TransportError : public std::runtime_error {
 public:
  explicit TransportError(const std::string& message) : std::runtime_error(message) {}
};

struct ClientOptions {
  std::chrono::seconds connectTimeout{10};
  // A transfer slower than 1 KiB/s for this long is aborted as stalled.
  std::chrono::seconds stallTimeout{30};
  std::string caFile;          // extra CA bundle (PEM file)
  std::string caData;          // extra CA certificates (PEM text)
  std::string clientCert;      // PEM file
  std::string clientKey;       // PEM file
  std::string clientCertData;  // PEM text (kubeconfig client-certificate-data)
  std::string clientKeyData;   // PEM text (kubeconfig client-key-data)
  bool insecureSkipTlsVerify = false;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One attempt; throws TransportError on connection faults. Thread-safe.
  Response send(const Request& request);

 private:
  struct Handle;
  std::unique_ptr<Handle> acquire();
  void release(std::unique_ptr<Handle> handle);

  ClientOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

// Percent-encodes everything but unreserved characters (and '/' when keepSlash).
std::string percentEncode(std::string_view text, bool keepSlash);
// The reverse; `plusIsSpace` for query strings (form encoding).
std::string percentDecode(std::string_view text, bool plusIsSpace);

}  // namespace skiff::http
