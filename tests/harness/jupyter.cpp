#include "harness/jupyter.hpp"

#include "common/subprocess.hpp"

namespace skiff::testing {

std::map<std::string, nlohmann::json> JupyterContents::list(const std::string& path) const {
  const auto result =
      runCommand({"curl", "-sf", base + "/api/contents/" + path + "?token=" + token});
  std::map<std::string, nlohmann::json> entries;
  const auto parsed = nlohmann::json::parse(result.out, nullptr, false);
  if (parsed.is_object() && parsed["content"].is_array()) {
    for (const auto& entry : parsed["content"]) entries[entry["name"]] = entry;
  }
  return entries;
}

std::string JupyterContents::put(const std::string& path, const std::string& text) const {
  const nlohmann::json body = {{"type", "file"}, {"format", "text"}, {"content", text}};
  return runCommand({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H",
                     "Content-Type: application/json", "-d", body.dump(),
                     base + "/api/contents/" + path + "?token=" + token})
      .out;
}

std::string JupyterContents::landing() const {
  return runCommand(
             {"curl", "-s", "-o", "/dev/null", "-w", "%{redirect_url}", base + "/?token=" + token})
      .out;
}

}  // namespace skiff::testing
