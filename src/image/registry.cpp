#include "image/registry.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace skiff::image {
namespace {

using nlohmann::json;

// "Bearer realm="https://auth",service="reg"" -> scheme and parameters.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};

Challenge parseChallenge(const std::string& header) {
  Challenge challenge;
  const auto space = header.find(' ');
  challenge.scheme = header.substr(0, space);
  for (auto& c : challenge.scheme) c = static_cast<char>(std::tolower(c));
  size_t at = space == std::string::npos ? header.size() : space + 1;
  while (at < header.size()) {
    const auto eq = header.find('=', at);
    if (eq == std::string::npos) break;
    std::string key = header.substr(at, eq - at);
    key.erase(0, key.find_first_not_of(" ,"));
    std::string value;
    at = eq + 1;
    if (at < header.size() && header[at] == '"') {
      const auto close = header.find('"', at + 1);
      value = header.substr(at + 1, close - at - 1);
      at = close == std::string::npos ? header.size() : close + 1;
    } else {
      const auto comma = std::min(header.find(',', at), header.size());
      value = header.substr(at, comma - at);
      at = comma;
    }
    challenge.params[key] = value;
    at = std::min(header.find(',', at), header.size()) + 1;
  }
  return challenge;
}

std::string loginHint(const std::string& host) {
  return fmt::format(
      "log in with `buildah login {0}` or `docker login {0}`, or set REGISTRY_AUTH_FILE, or "
      "SKIFF_REGISTRY_USERNAME and SKIFF_REGISTRY_PASSWORD",
      host);
}

}  // namespace

const char* const kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

RegistryClient::RegistryClient(Repository repository, RegistryOptions options)
    : repository_(std::move(repository)), options_(std::move(options)) {
  http::ClientOptions clientOptions;
  clientOptions.insecureSkipTlsVerify = options_.insecure;
  clientOptions.connectTimeout = std::chrono::seconds(10);
  client_ = std::make_unique<http::Client>(clientOptions);
}

RegistryClient::~RegistryClient() = default;

std::string RegistryClient::baseUrl() {
  if (!baseUrl_.empty()) return baseUrl_;
  const std::string https = "https://" + repository_.apiHost;
  const std::string http = "http://" + repository_.apiHost;
  std::string failure;
  // Like the containers tools: an insecure registry is tried over HTTPS, then plain HTTP.
  for (const std::string& base :
       options_.insecure ? std::vector{https, http} : std::vector{https}) {
    try {
      http::Request ping;
      ping.url = base + "/v2/";
      client_->send(ping);
      baseUrl_ = base;
      return baseUrl_;
    } catch (const http::TransportError& e) {
      failure = e.what();
    }
  }
  throw Error(fmt::format("cannot reach the registry: {}", failure),
              fmt::format("{}/v2/", options_.insecure ? http : https),
              options_.insecure
                  ? "is the registry running, and is the host in image.repository right?"
                  : "is the registry running, and is the host in image.repository right? For a "
                    "plain-HTTP registry pass --insecure-registry");
}

void RegistryClient::authorize(const std::string& header, const std::string& url) {
  Challenge challenge = parseChallenge(header);
  if (!options_.credentials) {
    throw Error("the registry needs credentials and none were found (HTTP 401)", url,
                loginHint(repository_.host));
  }
  const auto& credentials = *options_.credentials;
  const std::string basic =
      "Basic " + base64Encode(credentials.username + ":" + credentials.password);
  if (challenge.scheme == "basic") {
    authorization_ = basic;
    return;
  }
  if (challenge.scheme != "bearer" || challenge.params["realm"].empty()) {
    throw Error(
        fmt::format("the registry asks for unsupported authentication \"{}\"", challenge.scheme),
        url);
  }
  // Token authentication: trade the credentials for a token with push and pull rights.
  std::string tokenUrl =
      challenge.params["realm"] +
      "?service=" + http::percentEncode(challenge.params["service"], false) +
      "&scope=" + http::percentEncode("repository:" + repository_.path + ":pull,push", false);
  http::Request request;
  request.url = tokenUrl;
  request.headers.emplace_back("Authorization", basic);
  http::Response response;
  try {
    response = client_->send(request);
  } catch (const http::TransportError& e) {
    throw Error(fmt::format("cannot reach the registry's token service: {}", e.what()),
                challenge.params["realm"]);
  }
  if (response.status == 401 || response.status == 403) {
    throw Error(fmt::format("the registry rejected the credentials from {} (HTTP {})",
                            credentials.source, response.status),
                challenge.params["realm"],
                "check the user name and password; " + loginHint(repository_.host));
  }
  const json body = json::parse(response.body, nullptr, false);
  const std::string token =
      body.is_object() ? body.value("token", body.value("access_token", "")) : "";
  if (response.status != 200 || token.empty()) {
    throw Error(fmt::format("the registry's token service answered HTTP {} without a token",
                            response.status),
                challenge.params["realm"]);
  }
  authorization_ = "Bearer " + token;
}

http::Response RegistryClient::call(http::Request request) {
  request.url = baseUrl() + request.url;
  for (int attempt = 0;; ++attempt) {
    http::Request sent = request;
    if (!authorization_.empty()) sent.headers.emplace_back("Authorization", authorization_);
    http::Response response;
    try {
      response = client_->send(sent);
    } catch (const http::TransportError& e) {
      throw Error(fmt::format("the registry connection failed: {}", e.what()), request.url,
                  "try again; is the registry up?");
    }
    if (response.status != 401) return response;
    if (attempt > 0 || authorization_.rfind("Basic", 0) == 0) {
      throw Error(fmt::format("the registry rejected the credentials from {} (HTTP 401)",
                              options_.credentials ? options_.credentials->source : "nowhere"),
                  request.url, "check the user name and password; " + loginHint(repository_.host));
    }
    authorize(response.header("www-authenticate"), request.url);
  }
}

void RegistryClient::checkAccess() {
  // A HEAD of a tag needs the same authorization as a push does here (the
  // token asks for pull and push), and tells nothing about missing manifests.
  manifestDigest("skiff-access-check");
}

std::optional<std::string> RegistryClient::manifestDigest(const std::string& reference) {
  http::Request request;
  request.method = "HEAD";
  request.headOnly = true;
  request.url = fmt::format("/v2/{}/manifests/{}", repository_.path, reference);
  request.headers.emplace_back("Accept", kManifestAccept);
  const http::Response response = call(request);
  if (response.status == 404) return std::nullopt;
  if (response.status == 403) {
    throw Error("the registry denies access to the repository (HTTP 403)", baseUrl_ + request.url,
                "do these credentials have push rights on " + repository_.text + "?");
  }
  if (response.status != 200) {
    throw Error(fmt::format("the registry answered HTTP {} for a manifest", response.status),
                baseUrl_ + request.url);
  }
  const std::string digest = response.header("docker-content-digest");
  if (digest.empty()) {
    throw Error("the registry gave no Docker-Content-Digest for a manifest",
                baseUrl_ + request.url);
  }
  return digest;
}

void RegistryClient::addTag(const std::string& digest, const std::string& tag) {
  http::Request get;
  get.url = fmt::format("/v2/{}/manifests/{}", repository_.path, digest);
  get.headers.emplace_back("Accept", kManifestAccept);
  const http::Response manifest = call(get);
  if (manifest.status != 200) {
    throw Error(fmt::format("cannot read the pushed manifest (HTTP {})", manifest.status),
                baseUrl_ + get.url);
  }
  // The same bytes under another name: the digest stays the same.
  http::Request put;
  put.method = "PUT";
  put.url = fmt::format("/v2/{}/manifests/{}", repository_.path, tag);
  put.headers.emplace_back("Content-Type", manifest.header("content-type"));
  put.body = manifest.body;
  const http::Response response = call(put);
  if (response.status != 201 && response.status != 200) {
    throw Error(fmt::format("the registry refused tag {} (HTTP {}): {}", tag, response.status,
                            response.body.substr(0, 300)),
                baseUrl_ + put.url);
  }
}

std::vector<std::string> RegistryClient::listTags() {
  http::Request request;
  request.url = fmt::format("/v2/{}/tags/list", repository_.path);
  const http::Response response = call(request);
  if (response.status == 404) return {};
  if (response.status != 200) {
    throw Error(fmt::format("the registry answered HTTP {} for the tag list", response.status),
                baseUrl_ + request.url);
  }
  std::vector<std::string> tags;
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("tags") && body["tags"].is_array()) {
    for (const auto& tag : body["tags"]) tags.push_back(tag.get<std::string>());
  }
  return tags;
}

}  // namespace skiff::image
