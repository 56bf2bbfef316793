#pragma once

// Jupyter's contents API, the file browser's view of a notebook server:
// what a person browsing files sees, asked over HTTP with curl.

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace skiff::testing {

struct JupyterContents {
  std::string base;  // http://127.0.0.1:PORT
  std::string token;

  // The entries of a directory by name (empty when it cannot be listed).
  std::map<std::string, nlohmann::json> list(const std::string& path) const;
  // Writes a text file through the API; returns the HTTP status ("201", "403", ...).
  std::string put(const std::string& path, const std::string& text) const;
  // Where the server sends a browser that opens its root URL.
  std::string landing() const;
};

}  // namespace skiff::testing
