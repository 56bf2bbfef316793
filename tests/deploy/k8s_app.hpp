#pragma once

// The project the k8s target tests release, against the real API server and
// the fake one alike: a secret, a job that uses it, a service of 2 replicas.

namespace skiff::deploy::testing {

inline constexpr const char* kApp = R"(name: app
secrets:
  db: {fromEnv: [SKIFF_TEST_DB_PASSWORD]}
jobs:
  train: {command: [python3, train.py], secrets: [db]}
services:
  api: {command: [python3, app.py], replicas: 2}
)";

}  // namespace skiff::deploy::testing
