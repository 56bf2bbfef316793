#pragma once

// How `skiff status` and the release summary show what the local target
// recorded: a table for people, JSON for scripts.

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "deploy/local/state.hpp"
#include "deploy/served_models.hpp"

namespace skiff::deploy::local {

// What a serve service serves, as its server answered, or why it did not.
struct ServedAnswer {
  std::vector<ServedModel> models;
  std::string error;
};
using ServedByService = std::map<std::string, ServedAnswer>;

// Asks the server of every serve service that is Ready what it serves (its
// models, versions and labels); one that does not answer gets its error.
ServedByService askModelServers(StateDb& state);

// `served`: what askModelServers found, shown in the serve services' rows.
std::string statusTable(StateDb& state, const ServedByService& served = {});

// The run history (`skiff runs`, `skiff status --runs`), newest first: a
// table, one run a line, with restarts and reasons in words.
std::string historyTable(StateDb& state, const RunFilter& filter);
// {"runs": [runJson...]}, newest first.
nlohmann::json historyJson(StateDb& state, const RunFilter& filter);
// One run: what statusJson shows of it, plus its id, parameters, events
// (exits and restarts in words), artifacts and the model versions they are.
nlohmann::json runJson(StateDb& state, const RunRecord& run);

// The last `count` lines of a log file (fewer when it is shorter or missing).
std::vector<std::string> lastLines(const std::filesystem::path& file, size_t count);
// `served` adds "models" (or "modelsError") to the serve services' runs.
nlohmann::json statusJson(StateDb& state, const ServedByService& served = {});

// One line: "train Succeeded in 4.2s (accuracy=0.97)" or
// "classifier Ready at http://127.0.0.1:8000".
std::string describeOutcome(StateDb& state, const RunRecord& run);

}  // namespace skiff::deploy::local
