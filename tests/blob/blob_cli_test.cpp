// `skiff blob` as a user runs it, against a live Azurite and local files.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "blob/azure/shared_key.hpp"
#include "blob_fixture.hpp"
#include "http/http_client.hpp"

namespace skiff::blob::testing {
namespace {

using skiff::testing::Azurite;
using skiff::testing::runSkiff;
using skiff::testing::TempDir;

std::map<std::string, std::string> azuriteEnv() {
  return {{"AZURE_STORAGE_CONNECTION_STRING", Azurite::shared().connectionString()}};
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string containerUri(const std::string& container) {
  return "az://" + std::string(Azurite::kAccount) + "/" + container;
}

TEST(BlobCli, CopiesBothWaysKeepingEveryByte) {
  TempDir dir;
  const std::string data = randomBytes((9 << 20) + 3, 9);  // several 8 MiB blocks
  const auto local = dir.write("data file.bin", data);
  // The destination container does not exist yet: cp creates it.
  const std::string remote = containerUri(uniqueContainer("cli")) + "/in/data file.bin";
  auto up = runSkiff({"blob", "cp", local.string(), remote}, azuriteEnv());
  ASSERT_EQ(up.exitCode, 0) << up.err;
  EXPECT_EQ(up.err, "") << "quiet when stderr is not a terminal";

  auto down = runSkiff({"blob", "cp", remote, (dir / "back/").string()}, azuriteEnv());
  ASSERT_EQ(down.exitCode, 0) << down.err;
  EXPECT_EQ(sha256(readFile(dir / "back" / "data file.bin")), sha256(data));

  auto stat = runSkiff({"blob", "stat", "--json", remote}, azuriteEnv());
  ASSERT_EQ(stat.exitCode, 0) << stat.err;
  const auto properties = nlohmann::json::parse(stat.out);
  EXPECT_EQ(properties["size"], data.size());
  EXPECT_EQ(properties["uri"], remote);
}

// "a/../b" was normalised out of the URL, so the signature no longer matched:
// the user read "the storage service refused the credentials".
TEST(BlobCli, DotSegmentsInNamesAreRefusedUpFront) {
  const std::string container = containerUri(uniqueContainer("cli"));
  for (const std::string name : {"a/../b.txt", "./b.txt", "a/./b.txt", "a/.."}) {
    auto up = runSkiff({"blob", "cp", "-", container + "/" + name}, azuriteEnv(), "x");
    EXPECT_EQ(up.exitCode, 1) << name;
    EXPECT_NE(up.err.find("segment, which Azure Blob Storage does not allow"), std::string::npos)
        << up.err;
    EXPECT_EQ(up.err.find("credentials"), std::string::npos) << up.err;
    auto stat = runSkiff({"blob", "stat", container + "/" + name}, azuriteEnv());
    EXPECT_NE(stat.err.find("does not allow"), std::string::npos) << stat.err;
  }
}

TEST(BlobCli, StandardStreams) {
  const std::string remote = containerUri(uniqueContainer("cli")) + "/piped.txt";
  const std::string text = "through a pipe\n";
  auto up = runSkiff({"blob", "cp", "-", remote}, azuriteEnv(), text);
  ASSERT_EQ(up.exitCode, 0) << up.err;
  auto cat = runSkiff({"blob", "cat", remote}, azuriteEnv());
  EXPECT_EQ(cat.exitCode, 0) << cat.err;
  EXPECT_EQ(cat.out, text);
  auto toStdout = runSkiff({"blob", "cp", remote, "-"}, azuriteEnv());
  EXPECT_EQ(toStdout.out, text);
}

TEST(BlobCli, RecursiveCopiesBetweenStoresAndListing) {
  TempDir dir;
  dir.write("tree/a.txt", "a");
  dir.write("tree/sub dir/b.txt", "bb");
  dir.write("tree/sub dir/deeper/c.txt", "ccc");
  // An empty blob is written from its listing alone; a file past the small
  // size goes in the second, large-file phase.
  dir.write("tree/empty", "");
  std::string big(5 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i / 4096 % 26);
  dir.write("tree/big.bin", big);
  const std::string container = containerUri(uniqueContainer("cli"));
  auto up = runSkiff({"blob", "cp", "-r", "--json", (dir / "tree").string(), container + "/t"},
                     azuriteEnv());
  ASSERT_EQ(up.exitCode, 0) << up.err;
  const auto report = nlohmann::json::parse(up.out);
  EXPECT_EQ(report["files"], 5);
  EXPECT_EQ(report["bytes"], 6 + big.size());

  auto ls = runSkiff({"blob", "ls", container + "/t/"}, azuriteEnv());
  EXPECT_EQ(ls.exitCode, 0) << ls.err;
  EXPECT_EQ(ls.out, "sub dir/\na.txt\nbig.bin\nempty\n");
  auto lsRecursive = runSkiff({"blob", "ls", "-r", container + "/t"}, azuriteEnv());
  EXPECT_EQ(lsRecursive.out, "a.txt\nbig.bin\nempty\nsub dir/b.txt\nsub dir/deeper/c.txt\n");

  // Store to store within Azure (server-side copy), then back to local files.
  auto within = runSkiff({"blob", "cp", "-r", container + "/t", container + "/copy"}, azuriteEnv());
  ASSERT_EQ(within.exitCode, 0) << within.err;
  auto down = runSkiff(
      {"blob", "cp", "-r", container + "/copy/", "file://" + (dir / "out").string()}, azuriteEnv());
  ASSERT_EQ(down.exitCode, 0) << down.err;
  EXPECT_EQ(readFile(dir / "out" / "sub dir" / "deeper" / "c.txt"), "ccc");
  EXPECT_EQ(readFile(dir / "out" / "a.txt"), "a");
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "out" / "empty"));
  EXPECT_EQ(readFile(dir / "out" / "empty"), "");
  EXPECT_TRUE(readFile(dir / "out" / "big.bin") == big) << "the large file, whole";

  auto rm = runSkiff({"blob", "rm", "-r", container + "/copy"}, azuriteEnv());
  EXPECT_EQ(rm.exitCode, 0) << rm.err;
  EXPECT_EQ(runSkiff({"blob", "ls", "-r", container + "/copy"}, azuriteEnv()).out, "");
}

TEST(BlobCli, WrongKeyIsAClearErrorWithExitCodeOne) {
  const std::string key = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=";
  std::map<std::string, std::string> env = {
      {"AZURE_STORAGE_ACCOUNT", Azurite::kAccount},
      {"AZURE_STORAGE_KEY", key},
      {"AZURE_STORAGE_BLOB_ENDPOINT", Azurite::shared().blobEndpoint()}};
  auto result = runSkiff({"blob", "ls", containerUri("anything")}, env);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("refused the credentials"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("HTTP 403"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("az://devstoreaccount1/anything"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find(key), std::string::npos) << "never the key";
}

TEST(BlobCli, MissingThingsExitOneWithTheUri) {
  TempDir dir;
  auto stat = runSkiff({"blob", "stat", (dir / "absent").string()});
  EXPECT_EQ(stat.exitCode, 1);
  EXPECT_NE(stat.err.find("no such blob"), std::string::npos) << stat.err;
  auto noCredentials = runSkiff({"blob", "ls", "az://someaccount/container"},
                                {{"AZURE_STORAGE_CONNECTION_STRING", ""},
                                 {"AZURE_STORAGE_ACCOUNT", ""},
                                 {"AZURE_STORAGE_KEY", ""}});
  EXPECT_EQ(noCredentials.exitCode, 1);
  EXPECT_NE(noCredentials.err.find("no credentials for storage account \"someaccount\""),
            std::string::npos)
      << noCredentials.err;
  auto badUri = runSkiff({"blob", "ls", "s3://bucket/x"});
  EXPECT_EQ(badUri.exitCode, 1);
  EXPECT_NE(badUri.err.find("unsupported URI scheme"), std::string::npos) << badUri.err;
}

// A container SAS signed here as the Azure SDK signs one (service SAS, version
// 2021-12-02): it may read, write, list and delete blobs, not create containers.
std::string containerSas(const std::string& container) {
  const std::string permissions = "racwdl";
  const std::string expiry = "2040-01-01T00:00:00Z";
  const std::string version = "2021-12-02";
  const std::string toSign = permissions + "\n\n" + expiry + "\n/blob/" + Azurite::kAccount + "/" +
                             container + "\n\n\n\n" + version + "\nc\n\n\n\n\n\n\n";
  const std::string key = azure::base64Decode(Azurite::kKey);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(toSign.data()), toSign.size(), digest, &size);
  const std::string signature =
      azure::base64Encode(std::string_view(reinterpret_cast<const char*>(digest), size));
  return "sv=" + version + "&sr=c&sp=" + permissions + "&se=" + http::percentEncode(expiry, false) +
         "&sig=" + http::percentEncode(signature, false);
}

std::string md5Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// Debian's rclone on the same Azurite account (as bench/lib.sh sets it up).
skiff::CommandResult rclone(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "-u", "AWS_CA_BUNDLE", "rclone"};
  argv.insert(argv.end(), args.begin(), args.end());
  skiff::SpawnOptions options;
  options.extraEnv = {{"RCLONE_CONFIG", "/dev/null"},
                      {"RCLONE_CONFIG_AZ_TYPE", "azureblob"},
                      {"RCLONE_CONFIG_AZ_ACCOUNT", Azurite::kAccount},
                      {"RCLONE_CONFIG_AZ_KEY", Azurite::kKey},
                      {"RCLONE_CONFIG_AZ_ENDPOINT", Azurite::shared().blobEndpoint()},
                      {"RCLONE_CONFIG_AZ_USE_EMULATOR", "true"}};
  return skiff::runCommand(argv, options);
}

// The most common SAS (container-scoped) in a connection string whose
// endpoint is IP-style: cp used to stop at creating the container (403
// AuthorizationPermissionMismatch), and the account was read as "127".
TEST(BlobCli, ContainerSasInAnIpStyleConnectionString) {
  const std::string container = uniqueContainer("sas");
  auto create = runSkiff({"blob", "cp", "-", containerUri(container) + "/first.txt"}, azuriteEnv(),
                         "made with the key");
  ASSERT_EQ(create.exitCode, 0) << create.err;
  const std::map<std::string, std::string> sasEnv = {
      {"AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint=" + Azurite::shared().blobEndpoint() +
                                              ";SharedAccessSignature=" + containerSas(container)}};
  auto up = runSkiff({"blob", "cp", "-", containerUri(container) + "/second.txt"}, sasEnv, "sas");
  ASSERT_EQ(up.exitCode, 0) << up.err;
  TempDir dir;
  const auto local = dir.write("third.txt", "from a file");
  auto file = runSkiff({"blob", "cp", local.string(), containerUri(container) + "/"}, sasEnv);
  ASSERT_EQ(file.exitCode, 0) << file.err;
  EXPECT_EQ(runSkiff({"blob", "cat", containerUri(container) + "/second.txt"}, sasEnv).out, "sas");
  EXPECT_EQ(runSkiff({"blob", "ls", containerUri(container)}, sasEnv).out,
            "first.txt\nsecond.txt\nthird.txt\n");
  // A container the SAS does not cover still fails, saying so.
  auto other =
      runSkiff({"blob", "cp", "-", containerUri(uniqueContainer("other")) + "/x"}, sasEnv, "x");
  EXPECT_EQ(other.exitCode, 1);
  EXPECT_NE(other.err.find("HTTP 403"), std::string::npos) << other.err;
}

// cp onto an append blob used to replace it with a block blob, silently.
TEST(BlobCli, AppendBlobsStayAppendBlobs) {
  const std::string log = containerUri(uniqueContainer("append")) + "/run.log";
  auto first = runSkiff({"blob", "cp", "--blob-type", "append", "-", log}, azuriteEnv(), "one\n");
  ASSERT_EQ(first.exitCode, 0) << first.err;
  auto second = runSkiff({"blob", "cp", "--blob-type", "append", "-", log}, azuriteEnv(), "two\n");
  ASSERT_EQ(second.exitCode, 0) << second.err;
  EXPECT_EQ(runSkiff({"blob", "cat", log}, azuriteEnv()).out, "one\ntwo\n");

  auto plain = runSkiff({"blob", "cp", "-", log}, azuriteEnv(), "replaced?\n");
  EXPECT_EQ(plain.exitCode, 1);
  EXPECT_NE(plain.err.find("is an append blob"), std::string::npos) << plain.err;
  EXPECT_NE(plain.err.find("--blob-type append"), std::string::npos) << plain.err;
  TempDir dir;
  auto fromFile = runSkiff({"blob", "cp", dir.write("x.log", "x").string(), log}, azuriteEnv());
  EXPECT_EQ(fromFile.exitCode, 1) << fromFile.err;
  auto stat = runSkiff({"blob", "stat", log}, azuriteEnv());
  EXPECT_NE(stat.out.find("blob type:     AppendBlob"), std::string::npos) << stat.out;
  EXPECT_EQ(runSkiff({"blob", "cat", log}, azuriteEnv()).out, "one\ntwo\n");

  auto replace = runSkiff({"blob", "cp", "--blob-type", "block", "-", log}, azuriteEnv(), "new\n");
  ASSERT_EQ(replace.exitCode, 0) << replace.err;
  auto json = nlohmann::json::parse(runSkiff({"blob", "stat", "--json", log}, azuriteEnv()).out);
  EXPECT_EQ(json["blobType"], "BlockBlob");
}

// Content-Type from the extension and the whole blob's MD5 on a multi-block
// upload, as a second client (rclone) reads them back.
TEST(BlobCli, ContentTypeAndMd5AsOtherClientsSeeThem) {
  TempDir dir;
  const std::string data = randomBytes((3 << 20) + 5, 11);
  const auto local = dir.write("table.csv", data);
  const std::string container = uniqueContainer("md5");
  auto env = azuriteEnv();
  env["SKIFF_BLOB_BLOCK_SIZE"] = "1Mi";  // four blocks
  auto up = runSkiff({"blob", "cp", local.string(), containerUri(container) + "/table.csv"}, env);
  ASSERT_EQ(up.exitCode, 0) << up.err;
  auto piped = runSkiff({"blob", "cp", "-", containerUri(container) + "/piped.json"}, env, data);
  ASSERT_EQ(piped.exitCode, 0) << piped.err;
  auto typed = runSkiff({"blob", "cp", "--content-type", "text/x-custom", local.string(),
                         containerUri(container) + "/typed.csv"},
                        env);
  ASSERT_EQ(typed.exitCode, 0) << typed.err;

  auto md5sum = rclone({"md5sum", "az:" + container});
  ASSERT_EQ(md5sum.exitCode, 0) << md5sum.err;
  EXPECT_NE(md5sum.out.find(md5Hex(data) + "  table.csv"), std::string::npos) << md5sum.out;
  EXPECT_NE(md5sum.out.find(md5Hex(data) + "  piped.json"), std::string::npos) << md5sum.out;
  auto check = rclone(
      {"check", "--one-way", (dir.path()).string(), "az:" + container, "--include", "table.csv"});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;

  auto listing = rclone({"lsjson", "az:" + container});
  ASSERT_EQ(listing.exitCode, 0) << listing.err;
  std::map<std::string, std::string> types;
  for (const auto& item : nlohmann::json::parse(listing.out))
    types[item["Name"]] = item["MimeType"];
  EXPECT_EQ(types["table.csv"], "text/csv");
  EXPECT_EQ(types["piped.json"], "application/json");
  EXPECT_EQ(types["typed.csv"], "text/x-custom");

  auto stat = runSkiff({"blob", "stat", containerUri(container) + "/table.csv"}, env);
  EXPECT_NE(stat.out.find("blob type:     BlockBlob"), std::string::npos) << stat.out;
  EXPECT_NE(stat.out.find(md5Hex(data)), std::string::npos) << stat.out;
}

// A whole-blob download is checked against the blob's MD5 where it has one.
TEST(BlobCli, DownloadsAreCheckedAgainstTheStoredMd5) {
  const std::string container = uniqueContainer("check");
  ASSERT_EQ(runSkiff({"blob", "cp", "-", containerUri(container) + "/good.txt"}, azuriteEnv(),
                     "good data")
                .exitCode,
            0);
  // A blob whose stored MD5 is of other bytes: Set Blob Properties keeps it as given.
  ASSERT_EQ(runSkiff({"blob", "cp", "-", containerUri(container) + "/bad.txt"}, azuriteEnv(),
                     "damaged data")
                .exitCode,
            0);
  const std::string wrongMd5 = azure::base64Encode("0123456789abcdef");
  const auto set =
      skiff::runCommand({"curl", "-sf", "-X", "PUT", "-H", "x-ms-version: 2021-12-02", "-H",
                         "x-ms-blob-content-md5: " + wrongMd5, "-H", "Content-Length: 0",
                         Azurite::shared().blobEndpoint() + "/" + container +
                             "/bad.txt?comp=properties&" + containerSas(container)});
  ASSERT_EQ(set.exitCode, 0) << set.out << set.err;
  const auto stat =
      runSkiff({"blob", "stat", "--json", containerUri(container) + "/bad.txt"}, azuriteEnv());
  ASSERT_EQ(nlohmann::json::parse(stat.out)["contentMd5"], wrongMd5) << stat.out;

  const auto bad = runSkiff({"blob", "cat", containerUri(container) + "/bad.txt"}, azuriteEnv());
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_NE(bad.err.find("do not match the blob's Content-MD5"), std::string::npos) << bad.err;
  const auto good = runSkiff({"blob", "cat", containerUri(container) + "/good.txt"}, azuriteEnv());
  EXPECT_EQ(good.exitCode, 0) << good.err;
  EXPECT_EQ(good.out, "good data");
}

}  // namespace
}  // namespace skiff::blob::testing
