#pragma once

// Jobs report metrics by printing `skiff:metric NAME=VALUE [NAME=VALUE ...] [step=N]`.

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

}  // namespace skiff::deploy::local
