#include "blob/uri.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.hpp"

namespace skiff::blob {
namespace {

TEST(BlobUri, Azure) {
  const BlobUri uri = parseBlobUri("az://acct01/my-container/models/iris/1/model.onnx");
  EXPECT_EQ(uri.scheme, BlobUri::Scheme::kAzure);
  EXPECT_EQ(uri.account, "acct01");
  EXPECT_EQ(uri.container, "my-container");
  EXPECT_EQ(uri.path, "models/iris/1/model.onnx");
  EXPECT_EQ(uri.toString(), "az://acct01/my-container/models/iris/1/model.onnx");
  EXPECT_EQ(parseBlobUri("az://acct01/my-container").path, "");
  EXPECT_EQ(parseBlobUri("az://acct01/my-container/dir/").path, "dir/");
}

TEST(BlobUri, FileAndPlainPaths) {
  EXPECT_EQ(parseBlobUri("file:///srv/data/x.csv").path, "srv/data/x.csv");
  EXPECT_EQ(parseBlobUri("file:///srv/data/").path, "srv/data/");
  EXPECT_EQ(parseBlobUri("/srv/./data/../x").path, "srv/x");
  const BlobUri relative = parseBlobUri("relative/file");
  EXPECT_EQ(relative.scheme, BlobUri::Scheme::kFile);
  EXPECT_EQ("/" + relative.path, (std::filesystem::current_path() / "relative/file").string());
}

TEST(BlobUri, BadUrisSayWhatIsExpected) {
  for (const char* text : {"az://UPPER/container", "az://acct01", "az://acct01/x",
                           "s3://bucket/key", "file://relative", "az://acct01/bad--name/x"}) {
    SCOPED_TRACE(text);
    try {
      parseBlobUri(text);
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace skiff::blob
