#include "blob/azure/credentials.hpp"

#include <gtest/gtest.h>

#include "blob/azure/shared_key.hpp"
#include "common/error.hpp"

namespace skiff::blob::azure {
namespace {

TEST(ConnectionString, ReadsAccountKeyAndEndpoint) {
  const auto credentials = parseConnectionString(
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core."
      "chinacloudapi.cn");
  EXPECT_EQ(credentials.account, "acct");
  EXPECT_EQ(credentials.key, "a2V5");
  EXPECT_EQ(credentials.blobEndpoint, "https://acct.blob.core.chinacloudapi.cn");
}

TEST(ConnectionString, ExplicitBlobEndpointWins) {
  const auto credentials = parseConnectionString(
      "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/"
      "devstoreaccount1/;");
  EXPECT_EQ(credentials.blobEndpoint, "http://127.0.0.1:10000/devstoreaccount1");
}

TEST(ConnectionString, DevelopmentStorage) {
  const auto credentials = parseConnectionString("UseDevelopmentStorage=true");
  EXPECT_EQ(credentials.account, "devstoreaccount1");
  EXPECT_EQ(credentials.key, kDevelopmentKey);
  EXPECT_EQ(credentials.blobEndpoint, "http://127.0.0.1:10000/devstoreaccount1");
}

TEST(ConnectionString, SasWithOnlyAnEndpoint) {
  const auto credentials = parseConnectionString(
      "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2021&sig=abc");
  EXPECT_EQ(credentials.account, "acct");
  EXPECT_EQ(credentials.sasToken, "sv=2021&sig=abc");
}

// Was "the credentials are for account \"127\"": the account came from the host.
TEST(ConnectionString, SasWithAnIpStyleEndpoint) {
  const auto credentials = parseConnectionString(
      "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=sv=2021&sig=abc");
  EXPECT_EQ(credentials.account, "devstoreaccount1");
  EXPECT_EQ(credentials.blobEndpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_EQ(accountOfEndpoint("http://localhost:10000/acct/"), "acct");
  EXPECT_EQ(accountOfEndpoint("http://[::1]:10000/acct"), "acct");
  EXPECT_EQ(accountOfEndpoint("https://acct.blob.core.windows.net"), "acct");
  EXPECT_EQ(accountOfEndpoint("https://acct.blob.core.windows.net:443/"), "acct");
}

TEST(ConnectionString, WithoutSecretsIsAnError) {
  EXPECT_THROW(parseConnectionString("AccountName=acct"), Error);
}

TEST(Credentials, AccountAndKeyVariables) {
  const auto credentials =
      credentialsFrom({{"AZURE_STORAGE_ACCOUNT", "acct"},
                       {"AZURE_STORAGE_KEY", "a2V5"},
                       {"AZURE_STORAGE_BLOB_ENDPOINT", "http://127.0.0.1:9999/acct/"}},
                      "acct", "env");
  EXPECT_EQ(credentials.key, "a2V5");
  EXPECT_EQ(credentials.blobEndpoint, "http://127.0.0.1:9999/acct");
}

TEST(Credentials, SasTokenLosesItsQuestionMark) {
  const auto credentials = credentialsFrom(
      {{"AZURE_STORAGE_ACCOUNT", "acct"}, {"AZURE_STORAGE_SAS_TOKEN", "?sv=1&sig=secret"}}, "acct",
      "env");
  EXPECT_EQ(credentials.sasToken, "sv=1&sig=secret");
  EXPECT_EQ(credentials.blobEndpoint, "https://acct.blob.core.windows.net");
}

TEST(Credentials, MissingOrMismatchedSayWhatToSet) {
  try {
    credentialsFrom({}, "acct", "the environment");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("AZURE_STORAGE_CONNECTION_STRING"), std::string::npos);
  }
  try {
    credentialsFrom({{"AZURE_STORAGE_ACCOUNT", "other"}, {"AZURE_STORAGE_KEY", "c2VjcmV0a2V5"}},
                    "acct", "the environment");
    FAIL();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("\"other\""), std::string::npos) << message;
    EXPECT_EQ(message.find("c2VjcmV0a2V5"), std::string::npos) << "never the key";
  }
}

TEST(SharedKey, Base64RoundTrip) {
  for (const std::string text : {"", "a", "ab", "abc", "abcd", "\x01\xff\x80zz"}) {
    EXPECT_EQ(base64Decode(base64Encode(text)), text);
  }
  EXPECT_EQ(base64Encode("key"), "a2V5");
  EXPECT_THROW(base64Decode("abc"), Error);
}

TEST(SharedKey, SignsTheCanonicalString) {
  // Expected value computed independently:
  //   printf 'GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 29 Nov 2026 00:00:00
  //   GMT\nx-ms-version:2021-12-02\n/acct/acct/c/b%%20c\ncomp:list\nrestype:container' | openssl
  //   dgst -sha256 -mac HMAC -macopt key:key -binary | base64
  SignedRequest request;
  request.method = "GET";
  request.urlPath = "/acct/c/b%20c";
  request.query = {{"restype", "container"}, {"comp", "list"}};
  request.headers = {{"x-ms-version", "2021-12-02"},
                     {"x-ms-date", "Sun, 29 Nov 2026 00:00:00 GMT"}};
  const std::string header = sharedKeyAuthorization(request, "acct", "key");
  EXPECT_EQ(header.rfind("SharedKey acct:", 0), 0u);
  EXPECT_EQ(header, "SharedKey acct:OV1CVCsXmlQRlK8K5G7cvM/YGbdFbYj5oMTohhI9wy4=");
}

}  // namespace
}  // namespace skiff::blob::azure
