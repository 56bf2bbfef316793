#include "deploy/secrets.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/yaml_load.hpp"

namespace skiff::deploy {

namespace {

// What Kubernetes takes as a Secret's data key (and the local target as a
// variable): letters, digits, '-', '_' and '.', at most 253 characters.
void checkKey(const std::string& key, const std::string& secretName, const std::string& where) {
  const bool valid =
      !key.empty() && key.size() <= 253 && std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  if (!valid) {
    throw Error(fmt::format("\"{}\" is not a valid key for secret \"{}\"", key, secretName), where,
                "use only letters, digits, '-', '_' and '.' (at most 253 characters), as "
                "Kubernetes requires of Secret keys; an environment variable name such as "
                "DB_PASSWORD always works");
  }
}

// KEY=VALUE lines; blank lines and #comments are skipped. Errors name the
// file and line, never the value.
std::map<std::string, std::string> readEnvFile(const std::filesystem::path& file,
                                               const std::string& secretName) {
  std::ifstream in(file);
  if (!in) {
    throw Error(fmt::format("cannot read the file of secret \"{}\"", secretName), file.string(),
                "create it with KEY=VALUE lines, or fix secrets." + secretName + ".fromFile");
  }
  std::map<std::string, std::string> values;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto equals = line.find('=');
    if (equals == std::string::npos || equals == first) {
      throw Error("a line is not KEY=VALUE", fmt::format("{}:{}", file.string(), number),
                  "write each secret value as KEY=VALUE");
    }
    std::string key = line.substr(first, equals - first);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    checkKey(key, secretName, fmt::format("{}:{}", file.string(), number));
    values[key] = line.substr(equals + 1);
  }
  return values;
}

SecretValues readSecretsFile(const std::string& path) {
  const std::string text =
      readBoundedFile(path, 4ull << 20, "a secrets file holds keys and values; keep it below this");
  YAML::Node root;
  try {
    root = loadYaml(text);
  } catch (const YamlTooLarge& e) {
    throw Error(fmt::format("the secrets file is refused (line {}, column {}): {}", e.mark.line + 1,
                            e.mark.column + 1, e.msg),
                path, "write it as SECRET: {KEY: value}, without aliases");
  } catch (const YAML::Exception& e) {
    // yaml-cpp's message quotes no values, only where the syntax broke.
    throw Error(fmt::format("the secrets file is not valid YAML (line {}, column {})",
                            e.mark.line + 1, e.mark.column + 1),
                path, "write it as SECRET: {KEY: value}");
  }
  SecretValues values;
  if (!root || root.IsNull()) return values;
  if (!root.IsMap())
    throw Error("the secrets file must be a mapping", path, "SECRET: {KEY: value}");
  for (const auto& secret : root) {
    const auto name = secret.first.as<std::string>();
    if (!secret.second.IsMap()) {
      throw Error(fmt::format("secret \"{}\" must map keys to values", name), path,
                  "SECRET: {KEY: value}");
    }
    for (const auto& entry : secret.second) {
      if (!entry.second.IsScalar()) {
        throw Error(fmt::format("secret \"{}\" key \"{}\" is not a string", name,
                                entry.first.as<std::string>()),
                    path, "quote the value");
      }
      const auto key = entry.first.as<std::string>();
      checkKey(key, name, fmt::format("{}:{}", path, entry.first.Mark().line + 1));
      values[name][key] = entry.second.as<std::string>();
    }
  }
  return values;
}

}  // namespace

SecretValues resolveSecrets(const spec::Spec& spec, const std::filesystem::path& projectDir,
                            const std::string& secretsFile) {
  const SecretValues fromSecretsFile =
      secretsFile.empty() ? SecretValues{} : readSecretsFile(secretsFile);
  for (const auto& [name, unused] : fromSecretsFile) {
    if (!spec.secrets.count(name)) {
      throw Error(
          fmt::format("the secrets file has secret \"{}\", which skiff.yaml does not declare",
                      name),
          secretsFile, "declare it under secrets: in skiff.yaml, or remove it");
    }
  }
  SecretValues values;
  for (const auto& [name, secret] : spec.secrets) {
    if (secret.existing) continue;
    auto& keys = values[name];
    const auto given = fromSecretsFile.find(name);
    if (!secret.fromFile.empty()) {
      const auto path = std::filesystem::path(secret.fromFile).is_absolute()
                            ? std::filesystem::path(secret.fromFile)
                            : projectDir / secret.fromFile;
      keys = readEnvFile(path, name);
    }
    for (const auto& variable : secret.fromEnv) {
      if (given != fromSecretsFile.end() && given->second.count(variable)) continue;
      const char* value = std::getenv(variable.c_str());
      if (!value) {
        throw Error(
            fmt::format("secret \"{}\" needs the environment variable {}, which is not set", name,
                        variable),
            "skiff.yaml: secrets." + name + ".fromEnv",
            fmt::format("export {} before releasing, or give it in --secrets-file", variable));
      }
      keys[variable] = value;
    }
    if (given != fromSecretsFile.end()) {
      for (const auto& [key, value] : given->second) keys[key] = value;
    }
  }
  return values;
}

std::string redact(std::string text, const SecretValues& secrets) {
  std::vector<std::string> values;
  for (const auto& [name, keys] : secrets) {
    for (const auto& [key, value] : keys) values.push_back(value);
  }
  return redactValues(std::move(text), values);
}

std::string redactValues(std::string text, const std::vector<std::string>& values) {
  constexpr std::string_view kRedacted = "<redacted>";
  for (const auto& value : values) {
    if (value.empty()) continue;
    // Searching on after each replacement: a value inside "<redacted>" never loops.
    for (auto at = text.find(value); at != std::string::npos; at = text.find(value, at)) {
      text.replace(at, value.size(), kRedacted);
      at += kRedacted.size();
    }
  }
  return text;
}

}  // namespace skiff::deploy
