#include "blob/azure/shared_key.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>

#include "common/error.hpp"

namespace skiff::blob::azure {
namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string hmacSha256(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  return std::string(reinterpret_cast<char*>(digest), length);
}

}  // namespace

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(length));
  return out;
}

std::string base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    throw Error("the account key is not valid base64", "AZURE_STORAGE_KEY",
                "copy the key again from the storage account");
  }
  std::string out(3 * text.size() / 4, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()),
                                     static_cast<int>(text.size()));
  if (length < 0) {
    throw Error("the account key is not valid base64", "AZURE_STORAGE_KEY",
                "copy the key again from the storage account");
  }
  // EVP_DecodeBlock counts padding as data; drop one byte per '='.
  size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  out.resize(static_cast<size_t>(length) - padding);
  return out;
}

std::string sharedKeyAuthorization(const SignedRequest& request, const std::string& account,
                                   const std::string& keyBytes) {
  std::map<std::string, std::string> standard;
  std::map<std::string, std::string> msHeaders;
  for (const auto& [name, value] : request.headers) {
    const std::string lower = lowercase(name);
    if (lower.rfind("x-ms-", 0) == 0) {
      msHeaders[lower] = value;
    } else {
      standard[lower] = value;
    }
  }
  auto field = [&](const char* name) {
    const auto it = standard.find(name);
    return it == standard.end() ? std::string() : it->second;
  };
  std::string toSign = request.method + "\n";
  toSign += field("content-encoding") + "\n";
  toSign += field("content-language") + "\n";
  toSign += (request.contentLength ? std::to_string(request.contentLength) : "") + "\n";
  toSign += field("content-md5") + "\n";
  toSign += field("content-type") + "\n";
  toSign += field("date") + "\n";
  toSign += field("if-modified-since") + "\n";
  toSign += field("if-match") + "\n";
  toSign += field("if-none-match") + "\n";
  toSign += field("if-unmodified-since") + "\n";
  toSign += field("range") + "\n";
  for (const auto& [name, value] : msHeaders) toSign += name + ":" + value + "\n";
  toSign += "/" + account + request.urlPath;
  std::map<std::string, std::vector<std::string>> query;
  for (const auto& [name, value] : request.query) query[lowercase(name)].push_back(value);
  for (auto& [name, values] : query) {
    std::sort(values.begin(), values.end());
    toSign += "\n" + name + ":";
    for (size_t i = 0; i < values.size(); ++i) toSign += (i ? "," : "") + values[i];
  }
  return "SharedKey " + account + ":" + base64Encode(hmacSha256(keyBytes, toSign));
}

}  // namespace skiff::blob::azure
