// `skiff blob` as a user runs it, against a live Azurite and local files.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "blob_fixture.hpp"

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
  const std::string container = containerUri(uniqueContainer("cli"));
  auto up = runSkiff({"blob", "cp", "-r", "--json", (dir / "tree").string(), container + "/t"},
                     azuriteEnv());
  ASSERT_EQ(up.exitCode, 0) << up.err;
  const auto report = nlohmann::json::parse(up.out);
  EXPECT_EQ(report["files"], 3);
  EXPECT_EQ(report["bytes"], 6);

  auto ls = runSkiff({"blob", "ls", container + "/t/"}, azuriteEnv());
  EXPECT_EQ(ls.exitCode, 0) << ls.err;
  EXPECT_EQ(ls.out, "sub dir/\na.txt\n");
  auto lsRecursive = runSkiff({"blob", "ls", "-r", container + "/t"}, azuriteEnv());
  EXPECT_EQ(lsRecursive.out, "a.txt\nsub dir/b.txt\nsub dir/deeper/c.txt\n");

  // Store to store within Azure (server-side copy), then back to local files.
  auto within = runSkiff({"blob", "cp", "-r", container + "/t", container + "/copy"}, azuriteEnv());
  ASSERT_EQ(within.exitCode, 0) << within.err;
  auto down = runSkiff(
      {"blob", "cp", "-r", container + "/copy/", "file://" + (dir / "out").string()}, azuriteEnv());
  ASSERT_EQ(down.exitCode, 0) << down.err;
  EXPECT_EQ(readFile(dir / "out" / "sub dir" / "deeper" / "c.txt"), "ccc");
  EXPECT_EQ(readFile(dir / "out" / "a.txt"), "a");

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

}  // namespace
}  // namespace skiff::blob::testing
