#pragma once

#include <map>
#include <string>
#include <string_view>

namespace skiff::blob::azure {

// How requests to one storage account are authorized. Values come from the
// environment or a file, never from the command line (it would show in ps).
struct Credentials {
  std::string account;
  std::string key;           // base64 account key, for Shared Key; empty with a SAS
  std::string sasToken;      // query string without the leading '?'
  std::string blobEndpoint;  // e.g. https://ACCOUNT.blob.core.windows.net, no trailing '/'
};

// The emulator's well-known development account (Azurite).
inline constexpr const char* kDevelopmentAccount = "devstoreaccount1";
inline constexpr const char* kDevelopmentKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

// Parses an Azure Storage connection string ("AccountName=...;AccountKey=...;
// BlobEndpoint=..." or "UseDevelopmentStorage=true"). Throws skiff::Error.
Credentials parseConnectionString(std::string_view text);

// The account an endpoint names: the first path segment of an IP-style
// endpoint (http://127.0.0.1:10000/ACCOUNT), else the host's first label
// (https://ACCOUNT.blob.core.windows.net).
std::string accountOfEndpoint(const std::string& endpoint);

// Reads credentials for `account` the way the Azure tools do:
//   AZURE_STORAGE_CONNECTION_STRING, or
//   AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN,
// plus AZURE_STORAGE_BLOB_ENDPOINT to override the endpoint (emulators,
// sovereign clouds). SKIFF_AZURE_CREDENTIALS_FILE names a file of KEY=VALUE
// lines with the same names, read when the environment has none of them.
Credentials credentialsFromEnvironment(const std::string& account);

// The same lookup over an explicit set of variables (for tests and the file).
Credentials credentialsFrom(const std::map<std::string, std::string>& variables,
                            const std::string& account, const std::string& source);

}  // namespace skiff::blob::azure
