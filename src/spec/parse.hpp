#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spec/spec.hpp"
#include "spec/yaml_reader.hpp"

namespace skiff::spec {

inline constexpr const char* kSpecFileName = "skiff.yaml";

// The largest skiff.yaml read (SKIFF_MAX_SPEC_SIZE overrides it): a real one
// is a few KiB, and the YAML reader needs about 50 bytes of memory per byte.
inline constexpr uint64_t kDefaultMaxSpecBytes = 4ull << 20;

struct ParseResult {
  std::optional<Spec> spec;  // set only when there are no diagnostics
  std::vector<Diagnostic> diagnostics;

  bool ok() const { return spec.has_value(); }
};

// Parses and validates the text of a skiff.yaml; `fileName` is used in diagnostics.
ParseResult parseSpec(std::string_view yamlText, const std::string& fileName);

// Loads DIR/skiff.yaml. A missing or unreadable file is a diagnostic too, and
// so is one that is not a regular file or is larger than the limit above.
ParseResult loadProject(const std::filesystem::path& projectDir);

}  // namespace skiff::spec
