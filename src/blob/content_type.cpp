#include "blob/content_type.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

namespace skiff::blob {
namespace {

constexpr const char* kDefaultType = "application/octet-stream";

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// extension (lowercase, no dot) -> type. A few common ones stay known on
// machines without the media-types package.
std::map<std::string, std::string> loadTable() {
  std::map<std::string, std::string> table = {
      {"csv", "text/csv"},       {"json", "application/json"}, {"txt", "text/plain"},
      {"html", "text/html"},     {"png", "image/png"},         {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},    {"gz", "application/gzip"},   {"zip", "application/zip"},
      {"parquet", kDefaultType}, {"yaml", "application/yaml"}, {"pdf", "application/pdf"},
  };
  std::ifstream in("/etc/mime.types");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string type;
    std::string extension;
    fields >> type;
    while (fields >> extension) table[lowercase(extension)] = type;
  }
  return table;
}

}  // namespace

std::string contentTypeOf(std::string_view name) {
  static const std::map<std::string, std::string> table = loadTable();
  const auto slash = name.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  const auto dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return kDefaultType;
  const auto it = table.find(lowercase(std::string(base.substr(dot + 1))));
  return it == table.end() ? kDefaultType : it->second;
}

}  // namespace skiff::blob
