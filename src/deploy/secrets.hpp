#pragma once

// The values of a project's secrets, gathered at release time from where the
// spec says they come from (the environment, a KEY=VALUE file) and from
// `--secrets-file`. Values never reach a log, an error or rendered output.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "spec/spec.hpp"

namespace skiff::deploy {

// secret name -> key -> value.
using SecretValues = std::map<std::string, std::map<std::string, std::string>>;

// Resolves every secret of `spec` that skiff creates (not `existing` ones).
// `secretsFile` (optional) is YAML: `SECRET: {KEY: value, ...}`; its values
// win over fromEnv/fromFile. A missing variable, file or key is an Error that
// names the secret and the source, never a value.
SecretValues resolveSecrets(const spec::Spec& spec, const std::filesystem::path& projectDir,
                            const std::string& secretsFile = {});

// Replaces every secret value in `text` with "<redacted>" (for output that
// might echo one, e.g. an API server's error message).
std::string redact(std::string text, const SecretValues& secrets);
// The same for a plain list of values (what the local supervisor holds).
std::string redactValues(std::string text, const std::vector<std::string>& values);

}  // namespace skiff::deploy
