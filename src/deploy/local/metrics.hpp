#pragma once

// Jobs report metrics by printing `skiff:metric NAME=VALUE [NAME=VALUE ...] [step=N]`,
// and what they wrote by printing `skiff:artifact PATH`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::deploy::local {

struct ReportedMetric {
  std::string name;
  double value = 0;
  std::optional<int64_t> step;
};

// The metrics of one output line; empty when it is not a metric line or is
// malformed (a job's output never fails the job).
std::vector<ReportedMetric> parseMetricLine(std::string_view line);

// The path of a `skiff:artifact PATH` line (the rest of the line, trimmed);
// nothing when it is not one.
std::optional<std::string> parseArtifactLine(std::string_view line);

// Where a path a job named lies: the URI of the storage mounted there (a job
// sees storage at its mountPath in the sandbox, at the mountpoint without
// one), else file://PATH for an absolute path.
struct StorageRoot {
  std::string path;  // /models, or DIR/.skiff/mounts/models
  std::string uri;   // file:///var/lib/skiff/iris/models, az://...
};
std::string artifactUri(const std::string& path, const std::vector<StorageRoot>& roots);

// The model version an artifact URI is, when it lies under `repository`
// (a serve's <model>/<version>/... layout); {model, version} or nothing.
std::optional<std::pair<std::string, std::string>> modelVersionOf(const std::string& uri,
                                                                  const std::string& repository);

// An exit code in words: "exited with code 3", "was killed by SIGKILL (exit
// code 137)": 128+N is how a shell and the sandbox report signal N.
std::string describeExit(int code);
// The signal behind an exit code (128+N), when it looks like one.
std::optional<int> exitSignal(int code);

}  // namespace skiff::deploy::local
