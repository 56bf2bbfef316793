#include "image/credentials.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "common/subprocess.hpp"

namespace skiff::image {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json readJsonFile(const fs::path& file, const std::string& what) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    throw Error(fmt::format("{} is not valid JSON: {}", what, e.what()), file.string(),
                "fix or remove the file");
  }
}

// Docker keys entries by "host", "https://host", "http://host/v1/", ...
const json* entryFor(const json& map, const std::string& host) {
  if (!map.is_object()) return nullptr;
  for (const auto& [key, value] : map.items()) {
    std::string name = key;
    for (const char* scheme : {"https://", "http://"}) {
      if (name.rfind(scheme, 0) == 0) name = name.substr(std::string(scheme).size());
    }
    name = name.substr(0, name.find('/'));
    if (name == host || (host == "docker.io" && name == "index.docker.io")) return &value;
  }
  return nullptr;
}

std::optional<RegistryCredentials> fromAuthEntry(const json& entry, const std::string& source,
                                                 const fs::path& file) {
  RegistryCredentials credentials{"", "", source};
  if (entry.contains("auth") && entry["auth"].is_string() &&
      !entry["auth"].get<std::string>().empty()) {
    const auto decoded = base64Decode(entry["auth"].get<std::string>());
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      throw Error("a registry \"auth\" entry is not base64 of user:password", file.string(),
                  "log in again (buildah login / docker login) to rewrite it");
    }
    credentials.username = decoded->substr(0, colon);
    credentials.password = decoded->substr(colon + 1);
    return credentials;
  }
  if (entry.contains("username") && entry.contains("password")) {
    credentials.username = entry.value("username", "");
    credentials.password = entry.value("password", "");
    return credentials;
  }
  return std::nullopt;
}

// docker-credential-<helper> get: the host on stdin, {"Username","Secret"} on stdout.
std::optional<RegistryCredentials> fromHelper(const std::string& helper, const std::string& host,
                                              const fs::path& file) {
  const std::string program = "docker-credential-" + helper;
  CommandResult result;
  try {
    result = runCommand({program, "get"}, {}, host);
  } catch (const Error&) {
    throw Error(fmt::format("credential helper {} is not installed", program), file.string(),
                "install it, or remove it from the file");
  }
  if (result.exitCode != 0) return std::nullopt;  // the helper has nothing for this host
  try {
    const json answer = json::parse(result.out);
    return RegistryCredentials{answer.value("Username", ""), answer.value("Secret", ""),
                               fmt::format("{} (from {})", program, file.string())};
  } catch (const json::exception&) {
    throw Error(fmt::format("credential helper {} gave no JSON answer", program), file.string());
  }
}

std::optional<RegistryCredentials> fromFile(const fs::path& file, const std::string& host,
                                            const std::string& source) {
  const json config = readJsonFile(file, source);
  if (const json* helpers = config.contains("credHelpers") ? &config["credHelpers"] : nullptr) {
    if (const json* helper = entryFor(*helpers, host); helper && helper->is_string()) {
      return fromHelper(helper->get<std::string>(), host, file);
    }
  }
  if (config.contains("auths")) {
    if (const json* entry = entryFor(config["auths"], host)) {
      if (auto credentials = fromAuthEntry(*entry, source, file)) return credentials;
    }
  }
  if (config.contains("credsStore") && config["credsStore"].is_string()) {
    return fromHelper(config["credsStore"].get<std::string>(), host, file);
  }
  return std::nullopt;
}

}  // namespace

std::optional<RegistryCredentials> findCredentials(const std::string& host,
                                                   const Environment& env) {
  const std::string user = envOr(env, "SKIFF_REGISTRY_USERNAME");
  const std::string password = envOr(env, "SKIFF_REGISTRY_PASSWORD");
  if (!user.empty() || !password.empty()) {
    if (user.empty() || password.empty()) {
      throw Error("only one of SKIFF_REGISTRY_USERNAME and SKIFF_REGISTRY_PASSWORD is set",
                  "environment", "set both, or neither");
    }
    return RegistryCredentials{user, password,
                               "SKIFF_REGISTRY_USERNAME and SKIFF_REGISTRY_PASSWORD"};
  }
  if (const std::string file = envOr(env, "REGISTRY_AUTH_FILE"); !file.empty()) {
    if (!fs::exists(file)) {
      throw Error("REGISTRY_AUTH_FILE names a file that does not exist", file,
                  "log in with `buildah login --authfile FILE HOST`, or unset it");
    }
    if (auto found = fromFile(file, host, fmt::format("REGISTRY_AUTH_FILE ({})", file))) {
      return found;
    }
  }
  const std::string home = envOr(env, "HOME");
  const fs::path dockerConfig =
      fs::path(envOr(env, "DOCKER_CONFIG", home.empty() ? "" : home + "/.docker")) / "config.json";
  if (!dockerConfig.parent_path().empty() && fs::exists(dockerConfig)) {
    return fromFile(dockerConfig, host, dockerConfig.string());
  }
  return std::nullopt;
}

void writeAuthFile(const fs::path& file, const std::string& host,
                   const RegistryCredentials& credentials) {
  const json config = {
      {"auths",
       {{host, {{"auth", base64Encode(credentials.username + ":" + credentials.password)}}}}}};
  const std::string text = config.dump();
  // Created 0600 before anything is written to it.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error("cannot write a temporary registry auth file", file.string());
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw Error("cannot write a temporary registry auth file", file.string());
}

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(length));
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4 + 1, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()),
                                     static_cast<int>(text.size()));
  if (length < 0) return std::nullopt;
  // EVP_DecodeBlock counts the bytes that '=' padding stands for.
  size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  out.resize(static_cast<size_t>(length) - padding);
  return out;
}

}  // namespace skiff::image
