// `skiff version` (what `--version` prints, and with --json what a bug report
// needs) and `skiff completion bash|zsh|fish`, generated from the command tree
// itself so that it never falls behind the commands.

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <spdlog/version.h>

#include <CLI/Version.hpp>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/output_format.hpp"
#include "common/error.hpp"
#include "serve/onnxruntime/library.hpp"
#include "skiff/version.hpp"

namespace skiff::cli {
namespace {

using nlohmann::json;

json versionJson() {
  json engine = {{"name", "onnxruntime"}, {"tested", serve::ort::kTestedVersion}};
  try {
    const auto& library = serve::ort::loadLibrary("");
    engine["version"] = library.version;
    engine["path"] = library.path;
  } catch (const Error& e) {
    engine["version"] = nullptr;  // `skiff serve` says the same, with what to install
    engine["error"] = e.what();
  }
  return {
      {"version", kVersion},
      {"commit", kCommit},
      {"engine", engine},
      {"libraries",
       {{"CLI11", CLI11_VERSION},
        {"fmt",
         fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
        {"spdlog", fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH)},
        {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                      NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)},
        {"libcurl", curl_version_info(CURLVERSION_NOW)->version},
        {"OpenSSL", OpenSSL_version(OPENSSL_VERSION)}}}};
}

// One completable command: its path ("", " blob", " blob ls"), subcommands and options.
struct CompletionNode {
  std::string path;
  std::vector<std::string> words;
};

void collect(const CLI::App& command, const std::string& path, std::vector<CompletionNode>& out) {
  CompletionNode node{path, {}};
  std::vector<const CLI::App*> children;
  for (const CLI::App* sub : command.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_group().empty()) continue;  // hidden
    node.words.push_back(sub->get_name());
    children.push_back(sub);
  }
  for (const CLI::Option* option : command.get_options()) {
    for (const auto& name : option->get_lnames()) node.words.push_back("--" + name);
  }
  out.push_back(node);
  for (const CLI::App* sub : children) collect(*sub, path + " " + sub->get_name(), out);
}

std::string bashScript(const CLI::App& root) {
  std::vector<CompletionNode> nodes;
  collect(root, "", nodes);
  std::string paths;
  std::string cases;
  for (const auto& node : nodes) {
    if (!node.path.empty()) paths += fmt::format("    \"{}\") path=$candidate ;;\n", node.path);
    cases += fmt::format("    \"{}\") words=\"{}\" ;;\n", node.path, fmt::join(node.words, " "));
  }
  return fmt::format(R"(# bash completion for skiff: source <(skiff completion bash)
_skiff() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} path="" candidate words="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ ${{COMP_WORDS[i]}} == -* ]] && continue
    candidate="$path ${{COMP_WORDS[i]}}"
    case "$candidate" in
{}    esac
  done
  case "$path" in
{}  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  # Positionals are project directories, paths and URIs.
  if [[ ${{#COMPREPLY[@]}} -eq 0 && $cur != -* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}}
complete -o filenames -F _skiff skiff
)",
                     paths, cases);
}

std::string fishScript(const CLI::App& root) {
  std::vector<CompletionNode> nodes;
  collect(root, "", nodes);
  std::string script = "# fish completion for skiff: skiff completion fish | source\n";
  for (const auto& node : nodes) {
    // The words after "skiff" must be exactly this node's path.
    const std::string condition =
        fmt::format("test (string join ' ' (commandline -opc | string match -v -- '-*')) = '{}'",
                    "skiff" + node.path);
    for (const auto& word : node.words) {
      script += word.rfind("--", 0) == 0
                    ? fmt::format("complete -c skiff -n \"{}\" -l {}\n", condition, word.substr(2))
                    : fmt::format("complete -c skiff -f -n \"{}\" -a {}\n", condition, word);
    }
  }
  return script;
}

}  // namespace

void addVersionCommands(CLI::App& app, CommandContext&) {
  auto format = std::make_shared<OutputFormat>();
  CLI::App* version = app.add_subcommand("version",
                                         "Print skiff's version (--json: commit, "
                                         "engine and library versions)");
  addOutputOptions(*version, *format, "Version, commit, engine and libraries");
  version->callback([format] {
    if (format->structured()) {
      format->print(versionJson());
    } else {
      std::cout << "skiff " << kVersion << " (" << kCommit << ")\n";
    }
  });

  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand(
      "completion", "Print a shell completion script: source <(skiff completion bash)");
  completion->add_option("SHELL", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  completion->callback([&app, shell] {
    if (*shell == "fish") {
      std::cout << fishScript(app);
    } else if (*shell == "zsh") {
      // zsh runs bash completion functions through bashcompinit.
      std::cout << "# zsh completion for skiff: source <(skiff completion zsh)\n"
                   "autoload -U +X bashcompinit && bashcompinit\n"
                << bashScript(app);
    } else {
      std::cout << bashScript(app);
    }
  });
}

}  // namespace skiff::cli
