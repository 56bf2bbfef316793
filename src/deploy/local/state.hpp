#pragma once

// The local target's record of what it ran, in DIR/.skiff/state.db (SQLite,
// WAL mode so `skiff status` reads while the supervisor writes): releases,
// runs (one per job or service per release) with their parameters,
// replicas with their processes, exit codes and log files, restarts and
// exits with their reasons (events), metrics and artifacts reported by jobs,
// and live mounts. Runs are history: they outlive `skiff down` and a crashed
// supervisor, and pruneHistory() bounds how many of each name are kept.
//
// DIR/.skiff is its owner's alone: opening the state makes it 0700 and the
// database files 0600, also when an earlier version left them readable (job
// logs may hold anything a job prints). No credential goes into the
// database: a notebook's login token lives in a file of its own (0600).

#include <sqlite3.h>

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace skiff::deploy::local {

struct RunRecord {
  int64_t id = 0;
  int64_t releaseId = 0;
  std::string name;
  std::string kind;    // job, tfjob, pytorchjob, spark, service, serve, notebook
  std::string status;  // Pending, Running, Succeeded, Failed; services: Starting, Ready, Stopped
  double started = 0;  // seconds since the epoch
  double ended = 0;    // 0 while running
  std::optional<int> exitCode;
  std::string message;   // why it failed, in words
  std::string endpoint;  // services: http://127.0.0.1:PORT
  // What it ran with, as JSON: command, env names (never values), secret
  // names, image and digest, git commit. "{}" when unknown.
  std::string params = "{}";
};

struct ReplicaRecord {
  int64_t id = 0;
  int64_t runId = 0;
  std::string replica;  // "main", "chief-0", "worker-1", ...
  int pid = 0;
  std::string status;  // Running, Succeeded, Failed, Restarting, Stopped
  std::optional<int> exitCode;
  int restarts = 0;
  double started = 0;
  double ended = 0;
  std::string logPath;
};

struct MetricRecord {
  int64_t runId = 0;
  std::string replica;
  std::string name;
  double value = 0;
  std::optional<int64_t> step;
  double time = 0;
};

// Something that happened to a replica: an exit, a restart; `message` in
// words ("main was killed by SIGKILL (exit code 137); restart 1 of 2 in 1.0s").
struct EventRecord {
  int64_t runId = 0;
  std::string replica;
  double time = 0;
  std::string message;
  std::optional<int> exitCode;
};

// A file a job reported with a `skiff:artifact PATH` line; when it lies in
// the model repository of a `serve` of the project, the model version it is.
struct ArtifactRecord {
  int64_t runId = 0;
  std::string replica;
  std::string path;     // as the job named it
  std::string uri;      // where it is: file:///..., az://...; empty when unknown
  std::string server;   // the serve whose repository holds it; empty: none
  std::string model;    // empty when it is not a model version
  std::string version;  // e.g. "3"
  double time = 0;
};

// Which runs history() returns; empty fields match everything.
struct RunFilter {
  std::string name;
  std::string status;
  std::optional<int64_t> release;
  size_t limit = 200;
};

struct MountRecord {
  std::string name;
  std::string mountpoint;
  int pid = 0;
  std::string uri;
};

double nowSeconds();

class StateDb {
 public:
  // Opens (creating) DIR/.skiff/state.db.
  explicit StateDb(const std::filesystem::path& projectDir);
  ~StateDb();
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;

  int64_t addRelease();
  std::optional<int64_t> latestRelease();

  int64_t addRun(const RunRecord& run);
  void updateRun(const RunRecord& run);
  std::optional<RunRecord> run(int64_t id);
  std::vector<RunRecord> runsOfRelease(int64_t releaseId);
  // The newest run of every name: what `skiff status` shows.
  std::vector<RunRecord> latestRuns();
  std::optional<RunRecord> latestRun(const std::string& name);
  // Every kept run, newest first.
  std::vector<RunRecord> history(const RunFilter& filter);
  // Deletes the oldest finished runs of each name beyond the newest
  // `keepPerName` (with their replicas, metrics, events and artifacts) and
  // releases left without runs; returns the deleted run ids (their log
  // directories are the caller's to remove).
  std::vector<int64_t> pruneHistory(size_t keepPerName);

  int64_t addReplica(const ReplicaRecord& replica);
  void updateReplica(const ReplicaRecord& replica);
  std::vector<ReplicaRecord> replicas(int64_t runId);
  // Replicas recorded as running (pid > 0): what a crash may have left behind.
  std::vector<ReplicaRecord> liveReplicas();

  void addMetric(const MetricRecord& metric);
  // The last value of each metric of a run.
  std::vector<MetricRecord> latestMetrics(int64_t runId);
  // Every value of every metric of a run, in the order they were reported.
  std::vector<MetricRecord> metrics(int64_t runId);

  void addEvent(const EventRecord& event);
  std::vector<EventRecord> events(int64_t runId);

  void addArtifact(const ArtifactRecord& artifact);
  std::vector<ArtifactRecord> artifacts(int64_t runId);
  // The newest artifact that is version `version` of `model` (any server).
  std::optional<ArtifactRecord> modelVersion(const std::string& model, const std::string& version);

  void putMount(const MountRecord& mount);
  void removeMount(const std::string& name);
  std::vector<MountRecord> mounts();

  // The supervisor's pid, 0 when none is recorded.
  int supervisorPid();
  void setSupervisorPid(int pid);

  // A service's login token (the notebook's), kept out of the database in
  // DIR/.skiff/tokens/NAME (0600). Empty: none, or not readable by us.
  void setLoginToken(const std::string& name, const std::string& token);
  std::string loginToken(const std::string& name) const;

 private:
  class Statement;
  void exec(const char* sql);
  static void bindRun(Statement& statement, const RunRecord& run);
  static void bindReplica(Statement& statement, const ReplicaRecord& replica);
  Statement prepare(const char* sql);
  std::vector<MetricRecord> queryMetrics(const char* sql, int64_t runId);

  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  std::mutex mutex_;  // one connection shared by the supervisor's threads
};

}  // namespace skiff::deploy::local
