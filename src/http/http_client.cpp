#include "http/http_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace skiff::http {
namespace {

// curl_global_init is not thread-safe: run it once before any handle exists.
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

void ensureCurlGlobal() {
  static CurlGlobal global;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(std::string_view text) {
  size_t start = 0;
  size_t end = text.size();
  while (start < end && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  while (end > start && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(start, end - start));
}

struct Exchange {
  const Request* request = nullptr;
  Response* response = nullptr;
  size_t uploadOffset = 0;
  bool headersDelivered = false;
  std::exception_ptr callbackError;

  void deliverHeaders() {
    if (headersDelivered) return;
    headersDelivered = true;
    if (request->onHeaders) request->onHeaders(response->status, response->headers);
  }
};

size_t onHeaderLine(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after a 100 Continue, say) starts a fresh header set.
    exchange->response->headers.clear();
    const auto space = line.find(' ');
    if (space != std::string_view::npos) {
      exchange->response->status =
          std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
    }
    return size * count;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    const std::string name = lowercase(std::string(line.substr(0, colon)));
    std::string value = trim(line.substr(colon + 1));
    // Collected bodies grow once, not by doubling.
    if (name == "content-length" && !exchange->request->onBody) {
      exchange->response->body.reserve(
          std::min<size_t>(std::strtoull(value.c_str(), nullptr, 10), size_t{256} << 20));
    }
    exchange->response->headers[name] = std::move(value);
  }
  return size * count;
}

size_t onBodyData(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const size_t bytes = size * count;
  try {
    exchange->deliverHeaders();
    if (exchange->request->onBody && exchange->response->status < 300) {
      exchange->request->onBody(data, bytes);
    } else {
      exchange->response->body.append(data, bytes);
    }
  } catch (...) {
    exchange->callbackError = std::current_exception();
    return 0;  // aborts the transfer
  }
  return bytes;
}

size_t onUploadData(char* buffer, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const std::string_view body = exchange->request->body;
  const size_t bytes = std::min(size * count, body.size() - exchange->uploadOffset);
  std::copy_n(body.data() + exchange->uploadOffset, bytes, buffer);
  exchange->uploadOffset += bytes;
  return bytes;
}

}  // namespace

std::string Response::header(const std::string& lowercaseName) const {
  const auto it = headers.find(lowercaseName);
  return it == headers.end() ? std::string() : it->second;
}

struct Client::Handle {
  CURL* curl = nullptr;
  Handle() : curl(curl_easy_init()) {}
  ~Handle() { curl_easy_cleanup(curl); }
};

Client::Client(ClientOptions options) : options_(std::move(options)) {
  ensureCurlGlobal();
}

Client::~Client() = default;

std::unique_ptr<Client::Handle> Client::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  if (!handle->curl) throw TransportError("cannot create a curl handle");
  return handle;
}

void Client::release(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(handle));
}

Response Client::send(const Request& request) {
  auto handle = acquire();
  CURL* curl = handle->curl;
  // Reset clears the options but keeps the connection cache: the keep-alive we want.
  curl_easy_reset(curl);
  Response response;
  Exchange exchange;
  exchange.request = &request;
  exchange.response = &response;
  char errorBuffer[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);  // fewer callbacks on bulk data
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connectTimeout.count() * 1000));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stallTimeout.count()));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, onHeaderLine);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBodyData);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &exchange);
  if (!options_.caFile.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.caFile.c_str());
  if (!options_.caData.empty()) {
    curl_blob blob{const_cast<char*>(options_.caData.data()), options_.caData.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!options_.clientCert.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.clientCert.c_str());
  }
  if (!options_.clientKey.empty())
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.clientKey.c_str());
  if (!options_.clientCertData.empty()) {
    curl_blob blob{const_cast<char*>(options_.clientCertData.data()),
                   options_.clientCertData.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &blob);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!options_.clientKeyData.empty()) {
    curl_blob blob{const_cast<char*>(options_.clientKeyData.data()), options_.clientKeyData.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &blob);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (options_.insecureSkipTlsVerify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, fmt::format("{}: {}", name, value).c_str());
  }
  // curl would otherwise send "Expect: 100-continue" and wait for large bodies.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  if (request.headOnly) {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST" || request.method == "PATCH") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, onUploadData);
    curl_easy_setopt(curl, CURLOPT_READDATA, &exchange);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (exchange.callbackError) {
    // The connection may be mid-body: drop it rather than reuse it.
    std::rethrow_exception(exchange.callbackError);
  }
  if (code != CURLE_OK) {
    throw TransportError(errorBuffer[0] ? errorBuffer : curl_easy_strerror(code));
  }
  exchange.deliverHeaders();
  release(std::move(handle));
  return response;
}

std::string percentEncode(std::string_view text, bool keepSlash) {
  std::string out;
  out.reserve(text.size());
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keepSlash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

namespace {
int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percentDecode(std::string_view text, bool plusIsSpace) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (plusIsSpace && text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hexDigit(text[i + 1]) >= 0 &&
               hexDigit(text[i + 2]) >= 0) {
      out += static_cast<char>(hexDigit(text[i + 1]) * 16 + hexDigit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];  // a stray '%' stays as it is
    }
  }
  return out;
}

}  // namespace skiff::http
