#include "blob/azure/credentials.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

#include "common/error.hpp"

namespace skiff::blob::azure {
namespace {

const char* kVariables[] = {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT",
                            "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
                            "AZURE_STORAGE_BLOB_ENDPOINT"};

std::string trimmed(std::string text) {
  const auto start = text.find_first_not_of(" \t\r\n");
  const auto end = text.find_last_not_of(" \t\r\n");
  return start == std::string::npos ? "" : text.substr(start, end - start + 1);
}

std::string valueOf(const std::map<std::string, std::string>& variables, const char* name) {
  const auto it = variables.find(name);
  return it == variables.end() ? "" : it->second;
}

// KEY=VALUE lines; '#' starts a comment line; values may be quoted.
std::map<std::string, std::string> readCredentialsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw Error("cannot read the credentials file", path,
                "check SKIFF_AZURE_CREDENTIALS_FILE and the file's permissions");
  }
  std::map<std::string, std::string> variables;
  std::string line;
  while (std::getline(in, line)) {
    line = trimmed(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = trimmed(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    variables[trimmed(line.substr(0, eq))] = value;
  }
  return variables;
}

// An IP address or localhost: the account is the path's first segment there
// (emulators, Azure Stack), as the Azure SDK's isIpEndpointStyle decides.
bool isIpEndpointStyle(const std::string& host) {
  if (host == "localhost" || (!host.empty() && host.front() == '[')) return true;
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string::npos;
}

}  // namespace

std::string accountOfEndpoint(const std::string& endpoint) {
  const auto schemeEnd = endpoint.find("://");
  const size_t hostStart = schemeEnd == std::string::npos ? 0 : schemeEnd + 3;
  const size_t pathStart = std::min(endpoint.find('/', hostStart), endpoint.size());
  std::string host = endpoint.substr(hostStart, pathStart - hostStart);
  // Without the port (an IPv6 literal keeps its colons inside the brackets).
  const auto colon = host.rfind(':');
  if (colon != std::string::npos && host.find(']', colon) == std::string::npos) host.resize(colon);
  if (isIpEndpointStyle(host)) {
    const std::string path = endpoint.substr(std::min(pathStart + 1, endpoint.size()));
    return path.substr(0, path.find('/'));
  }
  return host.substr(0, host.find('.'));
}

Credentials parseConnectionString(std::string_view text) {
  std::map<std::string, std::string> fields;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find(';', start), text.size());
    const std::string_view part = text.substr(start, end - start);
    const auto eq = part.find('=');
    if (eq != std::string_view::npos) {
      fields[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
    }
    start = end + 1;
  }
  Credentials credentials;
  if (fields["UseDevelopmentStorage"] == "true") {
    credentials.account = kDevelopmentAccount;
    credentials.key = kDevelopmentKey;
    const std::string proxy = fields.count("DevelopmentStorageProxyUri")
                                  ? fields["DevelopmentStorageProxyUri"]
                                  : "http://127.0.0.1";
    credentials.blobEndpoint = proxy + ":10000/" + kDevelopmentAccount;
    return credentials;
  }
  credentials.account = fields["AccountName"];
  credentials.key = fields["AccountKey"];
  credentials.sasToken = fields["SharedAccessSignature"];
  credentials.blobEndpoint = fields["BlobEndpoint"];
  if (credentials.blobEndpoint.empty() && !credentials.account.empty()) {
    const std::string protocol =
        fields.count("DefaultEndpointsProtocol") ? fields["DefaultEndpointsProtocol"] : "https";
    const std::string suffix =
        fields.count("EndpointSuffix") ? fields["EndpointSuffix"] : "core.windows.net";
    credentials.blobEndpoint =
        fmt::format("{}://{}.blob.{}", protocol, credentials.account, suffix);
  }
  while (!credentials.blobEndpoint.empty() && credentials.blobEndpoint.back() == '/') {
    credentials.blobEndpoint.pop_back();
  }
  if (credentials.account.empty() && !credentials.blobEndpoint.empty()) {
    credentials.account = accountOfEndpoint(credentials.blobEndpoint);
  }
  if (credentials.key.empty() && credentials.sasToken.empty()) {
    throw Error("the connection string has neither AccountKey nor SharedAccessSignature",
                "AZURE_STORAGE_CONNECTION_STRING", "copy it again from the storage account");
  }
  return credentials;
}

Credentials credentialsFrom(const std::map<std::string, std::string>& variables,
                            const std::string& account, const std::string& source) {
  Credentials credentials;
  const std::string connectionString = valueOf(variables, "AZURE_STORAGE_CONNECTION_STRING");
  if (!connectionString.empty()) {
    credentials = parseConnectionString(connectionString);
  } else {
    credentials.account = valueOf(variables, "AZURE_STORAGE_ACCOUNT");
    credentials.key = valueOf(variables, "AZURE_STORAGE_KEY");
    credentials.sasToken = valueOf(variables, "AZURE_STORAGE_SAS_TOKEN");
    if (credentials.account.empty()) credentials.account = account;
    if (credentials.key.empty() && credentials.sasToken.empty()) {
      throw Error(fmt::format("no credentials for storage account \"{}\"", account), source,
                  "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with "
                  "AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN (or SKIFF_AZURE_CREDENTIALS_FILE)");
    }
    credentials.blobEndpoint = fmt::format("https://{}.blob.core.windows.net", credentials.account);
  }
  if (credentials.account != account) {
    throw Error(fmt::format("the credentials are for account \"{}\", the URI names \"{}\"",
                            credentials.account, account),
                source, "use the account of the credentials in the URI, or other credentials");
  }
  const std::string endpoint = valueOf(variables, "AZURE_STORAGE_BLOB_ENDPOINT");
  if (!endpoint.empty()) credentials.blobEndpoint = endpoint;
  while (!credentials.blobEndpoint.empty() && credentials.blobEndpoint.back() == '/') {
    credentials.blobEndpoint.pop_back();
  }
  if (!credentials.sasToken.empty() && credentials.sasToken[0] == '?') {
    credentials.sasToken.erase(0, 1);
  }
  return credentials;
}

Credentials credentialsFromEnvironment(const std::string& account) {
  std::map<std::string, std::string> variables;
  for (const char* name : kVariables) {
    if (const char* value = std::getenv(name); value && *value) variables[name] = value;
  }
  const char* file = std::getenv("SKIFF_AZURE_CREDENTIALS_FILE");
  if (file && *file && !variables.count("AZURE_STORAGE_CONNECTION_STRING") &&
      !variables.count("AZURE_STORAGE_KEY") && !variables.count("AZURE_STORAGE_SAS_TOKEN")) {
    for (auto& [name, value] : readCredentialsFile(file)) variables.try_emplace(name, value);
    return credentialsFrom(variables, account, file);
  }
  return credentialsFrom(variables, account, "the environment");
}

}  // namespace skiff::blob::azure
