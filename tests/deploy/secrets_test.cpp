// Secret values come from the environment, KEY=VALUE files and --secrets-file;
// errors name the secret and the source, never a value.

#include "deploy/secrets.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/error.hpp"
#include "harness/temp_dir.hpp"
#include "spec/parse.hpp"

namespace skiff::deploy {
namespace {

spec::Spec specWithSecrets(const std::string& secretsYaml) {
  auto result = spec::parseSpec("name: app\nsecrets:\n" + secretsYaml, "skiff.yaml");
  EXPECT_TRUE(result.ok()) << (result.diagnostics.empty() ? "" : result.diagnostics[0].format());
  return *result.spec;
}

TEST(SecretsTest, ValuesComeFromEnvironmentFilesAndTheSecretsFileWhichWins) {
  testing::TempDir dir;
  dir.write("db.env", "# the database\nUSER=alice\n\nPASSWORD = s3cret=x\n");
  dir.write("override.yaml", "api: {TOKEN: from-file}\n");
  setenv("SKIFF_TEST_TOKEN", "from-env", 1);
  setenv("SKIFF_TEST_REGION", "west", 1);
  const auto spec = specWithSecrets(
      "  db: {fromFile: db.env}\n"
      "  api: {fromEnv: [SKIFF_TEST_TOKEN, SKIFF_TEST_REGION]}\n"
      "  old: {existing: true}\n");
  const auto values = resolveSecrets(spec, dir.path(), (dir / "override.yaml").string());
  EXPECT_EQ(values.at("db").at("USER"), "alice");
  EXPECT_EQ(values.at("db").at("PASSWORD"), " s3cret=x");
  EXPECT_EQ(values.at("api").at("SKIFF_TEST_REGION"), "west");
  EXPECT_EQ(values.at("api").at("TOKEN"), "from-file");
  EXPECT_FALSE(values.count("old")) << "existing secrets are not created by skiff";
}

TEST(SecretsTest, AMissingVariableNamesTheSecretAndVariable) {
  unsetenv("SKIFF_TEST_MISSING");
  const auto spec = specWithSecrets("  api: {fromEnv: [SKIFF_TEST_MISSING]}\n");
  try {
    resolveSecrets(spec, ".");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SKIFF_TEST_MISSING"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"api\""), std::string::npos) << e.what();
  }
}

TEST(SecretsTest, ABadFileLineIsLocatedWithoutItsValue) {
  testing::TempDir dir;
  dir.write("db.env", "USER=alice\nhunter2\n");
  const auto spec = specWithSecrets("  db: {fromFile: db.env}\n");
  try {
    resolveSecrets(spec, dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("db.env:2"), std::string::npos) << message;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
}

TEST(SecretsTest, AKeyKubernetesWouldRefusePointsAtItsFileAndLine) {
  testing::TempDir dir;
  dir.write("db.env", "USER=alice\n# a comment\nBAD KEY=hunter2\n");
  dir.write("values.yaml", "db:\n  USER: bob\n  \"x/y\": hunter2\n");
  const auto spec = specWithSecrets("  db: {fromFile: db.env}\n");
  try {
    resolveSecrets(spec, dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("\"BAD KEY\" is not a valid key for secret \"db\""), std::string::npos)
        << message;
    EXPECT_NE(message.find("db.env:3"), std::string::npos) << message;
    EXPECT_NE(e.hint().find("letters, digits, '-', '_' and '.'"), std::string::npos) << e.hint();
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
  dir.write("db.env", "USER=alice\n");
  try {
    resolveSecrets(spec, dir.path(), (dir / "values.yaml").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("\"x/y\" is not a valid key"), std::string::npos) << message;
    EXPECT_NE(message.find("values.yaml:3"), std::string::npos) << message;
  }
}

TEST(SecretsTest, AnUndeclaredSecretInTheSecretsFileIsAnError) {
  testing::TempDir dir;
  dir.write("values.yaml", "nope: {K: v}\n");
  const auto spec = specWithSecrets("  db: {fromEnv: []}\n");
  EXPECT_THROW(resolveSecrets(spec, dir.path(), (dir / "values.yaml").string()), Error);
}

TEST(SecretsTest, RedactReplacesEveryOccurrenceOfEveryValue) {
  const SecretValues secrets{{"db", {{"PASSWORD", "pw"}, {"EMPTY", ""}}}};
  EXPECT_EQ(redact("a pw b pwpw", secrets), "a <redacted> b <redacted><redacted>");
}

TEST(SecretsTest, AValueInsideTheMarkerIsReplacedOnce) {
  EXPECT_EQ(redactValues("see", {"e"}), "s<redacted><redacted>");
}

}  // namespace
}  // namespace skiff::deploy
