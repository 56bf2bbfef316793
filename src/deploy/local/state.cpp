#include "deploy/local/state.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "common/error.hpp"
#include "common/files.hpp"

namespace skiff::deploy::local {

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A prepared statement: bind by position (1-based), step, read columns.
class StateDb::Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::filesystem::path& path)
      : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail();
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
    return *this;
  }
  Statement& bind(int index, const std::string& value) {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
  }
  template <typename T>
  Statement& bind(int index, const std::optional<T>& value) {
    if (value) return bind(index, *value);
    sqlite3_bind_null(stmt_, index);
    return *this;
  }

  // True while there is a row to read.
  bool step() {
    const int code = sqlite3_step(stmt_);
    if (code == SQLITE_ROW) return true;
    if (code != SQLITE_DONE) fail();
    return false;
  }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  double real(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string text(int column) const {
    const auto* bytes = sqlite3_column_text(stmt_, column);
    return bytes ? reinterpret_cast<const char*>(bytes) : "";
  }
  std::optional<int64_t> optionalInteger(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return integer(column);
  }

 private:
  [[noreturn]] void fail() const {
    throw Error(fmt::format("the local state database failed: {}", sqlite3_errmsg(db_)),
                path_.string(), "if it is damaged, run `skiff down` and remove it");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  const std::filesystem::path& path_;
};

namespace {

// Makes what an earlier version left under DIR/.skiff owner-only (0700
// directories, 0600 files); mounts are skipped (their permissions are the
// store's, and walking them would fetch listings).
void makeTreePrivate(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(dir, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_symlink(error)) continue;
    if (it->path().filename() == "mounts" && it.depth() == 0) {
      it.disable_recursion_pending();
      ::chmod(it->path().c_str(), 0700);
      continue;
    }
    ::chmod(it->path().c_str(), it->is_directory(error) ? 0700 : 0600);
  }
}

}  // namespace

StateDb::StateDb(const std::filesystem::path& projectDir)
    : path_(projectDir / ".skiff" / "state.db") {
  const std::filesystem::path dir = path_.parent_path();
  struct stat before {};
  const bool existed = ::stat(dir.c_str(), &before) == 0;
  makePrivateDirectory(dir);
  if (existed && (before.st_mode & 0077) != 0) makeTreePrivate(dir);  // from an earlier version
  // SQLite gives the -wal and -shm files the mode of the database file.
  ::close(openPrivateFile(path_, O_RDWR));
  makePrivateFile(path_.string() + "-wal");
  makePrivateFile(path_.string() + "-shm");
  if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw Error("cannot open the local state database: " + message, path_.string(),
                "check that the project directory is writable");
  }
  sqlite3_busy_timeout(db_, 10000);  // the supervisor and the CLI share the file
  exec("PRAGMA journal_mode=WAL");
  exec(R"sql(
    CREATE TABLE IF NOT EXISTS releases (id INTEGER PRIMARY KEY, started REAL);
    CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, release_id INTEGER, name TEXT,
      kind TEXT, status TEXT, started REAL, ended REAL, exit_code INTEGER, message TEXT,
      endpoint TEXT);
    CREATE TABLE IF NOT EXISTS replicas (id INTEGER PRIMARY KEY, run_id INTEGER, replica TEXT,
      pid INTEGER, status TEXT, exit_code INTEGER, restarts INTEGER, started REAL, ended REAL,
      log_path TEXT);
    CREATE TABLE IF NOT EXISTS metrics (run_id INTEGER, replica TEXT, name TEXT, value REAL,
      step INTEGER, time REAL);
    CREATE TABLE IF NOT EXISTS mounts (name TEXT PRIMARY KEY, mountpoint TEXT, pid INTEGER,
      uri TEXT);
    CREATE TABLE IF NOT EXISTS supervisor (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER);
    CREATE TABLE IF NOT EXISTS events (run_id INTEGER, replica TEXT, time REAL, message TEXT,
      exit_code INTEGER);
    CREATE TABLE IF NOT EXISTS artifacts (run_id INTEGER, replica TEXT, path TEXT, uri TEXT,
      server TEXT, model TEXT, version TEXT, time REAL);
    CREATE INDEX IF NOT EXISTS metrics_run ON metrics (run_id);
    CREATE INDEX IF NOT EXISTS replicas_run ON replicas (run_id);
    CREATE INDEX IF NOT EXISTS artifacts_model ON artifacts (model, version);
  )sql");
  // Databases of earlier versions lack the newer columns.
  bool hasParams = false;
  {
    auto columns = prepare("PRAGMA table_info(runs)");
    while (columns.step()) hasParams = hasParams || columns.text(1) == "params";
  }
  if (!hasParams) exec("ALTER TABLE runs ADD COLUMN params TEXT DEFAULT '{}'");
}

StateDb::~StateDb() {
  sqlite3_close(db_);
}

void StateDb::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throw Error("the local state database failed: " + text, path_.string(),
                "if it is damaged, run `skiff down` and remove it");
  }
}

StateDb::Statement StateDb::prepare(const char* sql) {
  return Statement(db_, sql, path_);
}

int64_t StateDb::addRelease() {
  std::lock_guard lock(mutex_);
  prepare("INSERT INTO releases (started) VALUES (?)").bind(1, nowSeconds()).step();
  return sqlite3_last_insert_rowid(db_);
}

std::optional<int64_t> StateDb::latestRelease() {
  std::lock_guard lock(mutex_);
  auto statement = prepare("SELECT max(id) FROM releases");
  return statement.step() ? statement.optionalInteger(0) : std::nullopt;
}

#define SKIFF_RUN_SELECT(rest)                                                                \
  "SELECT id, release_id, name, kind, status, started, ended, exit_code, message, endpoint, " \
  "params " rest

namespace {
template <typename Statement>
RunRecord readRun(const Statement& row) {
  RunRecord run;
  run.id = row.integer(0);
  run.releaseId = row.integer(1);
  run.name = row.text(2);
  run.kind = row.text(3);
  run.status = row.text(4);
  run.started = row.real(5);
  run.ended = row.real(6);
  if (auto code = row.optionalInteger(7)) run.exitCode = static_cast<int>(*code);
  run.message = row.text(8);
  run.endpoint = row.text(9);
  run.params = row.text(10);
  if (run.params.empty()) run.params = "{}";
  return run;
}
}  // namespace

// Inserts and updates use the same numbered parameters (?1 ...), so one
// function binds a record for both; a statement ignores the numbers it does
// not use (SQLite leaves them unbound or reports SQLITE_RANGE, both harmless).
void StateDb::bindRun(Statement& statement, const RunRecord& run) {
  statement.bind(1, run.releaseId)
      .bind(2, run.name)
      .bind(3, run.kind)
      .bind(4, run.status)
      .bind(5, run.started)
      .bind(6, run.ended)
      .bind(7, run.exitCode)
      .bind(8, run.message)
      .bind(9, run.endpoint)
      .bind(10, run.id)
      .bind(11, run.params);
}

int64_t StateDb::addRun(const RunRecord& run) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      "INSERT INTO runs (release_id, name, kind, status, started, ended, exit_code, message, "
      "endpoint, params) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11)");
  bindRun(statement, run);
  statement.step();
  return sqlite3_last_insert_rowid(db_);
}

void StateDb::updateRun(const RunRecord& run) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      "UPDATE runs SET status = ?4, started = ?5, ended = ?6, exit_code = ?7, message = ?8, "
      "endpoint = ?9 WHERE id = ?10");
  bindRun(statement, run);
  statement.step();
}

std::optional<RunRecord> StateDb::run(int64_t id) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(SKIFF_RUN_SELECT("FROM runs WHERE id = ?"));
  statement.bind(1, id);
  if (!statement.step()) return std::nullopt;
  return readRun(statement);
}

std::vector<RunRecord> StateDb::runsOfRelease(int64_t releaseId) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(SKIFF_RUN_SELECT("FROM runs WHERE release_id = ? ORDER BY id"));
  statement.bind(1, releaseId);
  std::vector<RunRecord> runs;
  while (statement.step()) runs.push_back(readRun(statement));
  return runs;
}

std::vector<RunRecord> StateDb::latestRuns() {
  std::lock_guard lock(mutex_);
  auto statement =
      prepare(SKIFF_RUN_SELECT("FROM runs WHERE id IN (SELECT max(id) FROM runs GROUP BY name) "
                               "ORDER BY name"));
  std::vector<RunRecord> runs;
  while (statement.step()) runs.push_back(readRun(statement));
  return runs;
}

std::optional<RunRecord> StateDb::latestRun(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(SKIFF_RUN_SELECT("FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1"));
  statement.bind(1, name);
  if (!statement.step()) return std::nullopt;
  return readRun(statement);
}

std::vector<RunRecord> StateDb::history(const RunFilter& filter) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      SKIFF_RUN_SELECT("FROM runs WHERE (?1 = '' OR name = ?1) AND (?2 = '' OR status = ?2) "
                       "AND (?3 IS NULL OR release_id = ?3) ORDER BY id DESC LIMIT ?4"));
  statement.bind(1, filter.name)
      .bind(2, filter.status)
      .bind(3, filter.release)
      .bind(4, static_cast<int64_t>(filter.limit));
  std::vector<RunRecord> runs;
  while (statement.step()) runs.push_back(readRun(statement));
  return runs;
}

#undef SKIFF_RUN_SELECT

std::vector<int64_t> StateDb::pruneHistory(size_t keepPerName) {
  std::lock_guard lock(mutex_);
  // Runs still going are never pruned; the newest `keepPerName` of a name
  // are kept whatever their state.
  auto select = prepare(
      "SELECT id FROM runs AS old WHERE ended != 0 AND (SELECT count(*) FROM runs AS newer "
      "WHERE newer.name = old.name AND newer.id > old.id) >= ?");
  select.bind(1, static_cast<int64_t>(keepPerName));
  std::vector<int64_t> ids;
  while (select.step()) ids.push_back(select.integer(0));
  if (ids.empty()) return ids;
  exec("BEGIN");
  try {
    for (const int64_t id : ids) {
      for (const char* sql :
           {"DELETE FROM metrics WHERE run_id = ?", "DELETE FROM replicas WHERE run_id = ?",
            "DELETE FROM events WHERE run_id = ?", "DELETE FROM artifacts WHERE run_id = ?",
            "DELETE FROM runs WHERE id = ?"}) {
        prepare(sql).bind(1, id).step();
      }
    }
    // The newest release stays: it numbers the next one.
    exec(
        "DELETE FROM releases WHERE id NOT IN (SELECT release_id FROM runs) AND id != "
        "(SELECT max(id) FROM releases)");
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
  return ids;
}

void StateDb::bindReplica(Statement& statement, const ReplicaRecord& replica) {
  statement.bind(1, replica.runId)
      .bind(2, replica.replica)
      .bind(3, replica.pid)
      .bind(4, replica.status)
      .bind(5, replica.exitCode)
      .bind(6, replica.restarts)
      .bind(7, replica.started)
      .bind(8, replica.ended)
      .bind(9, replica.logPath)
      .bind(10, replica.id);
}

int64_t StateDb::addReplica(const ReplicaRecord& replica) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      "INSERT INTO replicas (run_id, replica, pid, status, exit_code, restarts, started, ended, "
      "log_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  bindReplica(statement, replica);
  statement.step();
  return sqlite3_last_insert_rowid(db_);
}

void StateDb::updateReplica(const ReplicaRecord& replica) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      "UPDATE replicas SET pid = ?3, status = ?4, exit_code = ?5, restarts = ?6, started = ?7, "
      "ended = ?8 WHERE id = ?10");
  bindReplica(statement, replica);
  statement.step();
}

namespace {
template <typename Statement>
ReplicaRecord readReplica(const Statement& row) {
  ReplicaRecord replica;
  replica.id = row.integer(0);
  replica.runId = row.integer(1);
  replica.replica = row.text(2);
  replica.pid = static_cast<int>(row.integer(3));
  replica.status = row.text(4);
  if (auto code = row.optionalInteger(5)) replica.exitCode = static_cast<int>(*code);
  replica.restarts = static_cast<int>(row.integer(6));
  replica.started = row.real(7);
  replica.ended = row.real(8);
  replica.logPath = row.text(9);
  return replica;
}
constexpr const char* kReplicaSelect =
    "SELECT id, run_id, replica, pid, status, exit_code, restarts, started, ended, log_path "
    "FROM replicas ";
}  // namespace

std::vector<ReplicaRecord> StateDb::replicas(int64_t runId) {
  std::lock_guard lock(mutex_);
  auto statement = prepare((std::string(kReplicaSelect) + "WHERE run_id = ? ORDER BY id").c_str());
  statement.bind(1, runId);
  std::vector<ReplicaRecord> replicas;
  while (statement.step()) replicas.push_back(readReplica(statement));
  return replicas;
}

std::vector<ReplicaRecord> StateDb::liveReplicas() {
  std::lock_guard lock(mutex_);
  auto statement = prepare((std::string(kReplicaSelect) + "WHERE pid > 0").c_str());
  std::vector<ReplicaRecord> replicas;
  while (statement.step()) replicas.push_back(readReplica(statement));
  return replicas;
}

void StateDb::addMetric(const MetricRecord& metric) {
  std::lock_guard lock(mutex_);
  prepare("INSERT INTO metrics (run_id, replica, name, value, step, time) VALUES (?,?,?,?,?,?)")
      .bind(1, metric.runId)
      .bind(2, metric.replica)
      .bind(3, metric.name)
      .bind(4, metric.value)
      .bind(5, metric.step)
      .bind(6, metric.time)
      .step();
}

std::vector<MetricRecord> StateDb::latestMetrics(int64_t runId) {
  return queryMetrics(
      "SELECT run_id, replica, name, value, step, time FROM metrics WHERE rowid IN "
      "(SELECT max(rowid) FROM metrics WHERE run_id = ? GROUP BY name) ORDER BY name",
      runId);
}

std::vector<MetricRecord> StateDb::metrics(int64_t runId) {
  return queryMetrics(
      "SELECT run_id, replica, name, value, step, time FROM metrics WHERE run_id = ? "
      "ORDER BY rowid",
      runId);
}

std::vector<MetricRecord> StateDb::queryMetrics(const char* sql, int64_t runId) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(sql);
  statement.bind(1, runId);
  std::vector<MetricRecord> metrics;
  while (statement.step()) {
    metrics.push_back({statement.integer(0), statement.text(1), statement.text(2),
                       statement.real(3), statement.optionalInteger(4), statement.real(5)});
  }
  return metrics;
}

void StateDb::addEvent(const EventRecord& event) {
  std::lock_guard lock(mutex_);
  prepare("INSERT INTO events (run_id, replica, time, message, exit_code) VALUES (?,?,?,?,?)")
      .bind(1, event.runId)
      .bind(2, event.replica)
      .bind(3, event.time)
      .bind(4, event.message)
      .bind(5, event.exitCode)
      .step();
}

std::vector<EventRecord> StateDb::events(int64_t runId) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      "SELECT run_id, replica, time, message, exit_code FROM events WHERE run_id = ? ORDER BY "
      "rowid");
  statement.bind(1, runId);
  std::vector<EventRecord> events;
  while (statement.step()) {
    EventRecord event{statement.integer(0), statement.text(1), statement.real(2), statement.text(3),
                      std::nullopt};
    if (auto code = statement.optionalInteger(4)) event.exitCode = static_cast<int>(*code);
    events.push_back(std::move(event));
  }
  return events;
}

namespace {
constexpr const char* kArtifactSelect =
    "SELECT run_id, replica, path, uri, server, model, version, time FROM artifacts ";
template <typename Statement>
ArtifactRecord readArtifact(const Statement& row) {
  return {row.integer(0), row.text(1), row.text(2), row.text(3),
          row.text(4),    row.text(5), row.text(6), row.real(7)};
}
}  // namespace

void StateDb::addArtifact(const ArtifactRecord& artifact) {
  std::lock_guard lock(mutex_);
  prepare(
      "INSERT INTO artifacts (run_id, replica, path, uri, server, model, version, time) VALUES "
      "(?,?,?,?,?,?,?,?)")
      .bind(1, artifact.runId)
      .bind(2, artifact.replica)
      .bind(3, artifact.path)
      .bind(4, artifact.uri)
      .bind(5, artifact.server)
      .bind(6, artifact.model)
      .bind(7, artifact.version)
      .bind(8, artifact.time)
      .step();
}

std::vector<ArtifactRecord> StateDb::artifacts(int64_t runId) {
  std::lock_guard lock(mutex_);
  auto statement =
      prepare((std::string(kArtifactSelect) + "WHERE run_id = ? ORDER BY rowid").c_str());
  statement.bind(1, runId);
  std::vector<ArtifactRecord> artifacts;
  while (statement.step()) artifacts.push_back(readArtifact(statement));
  return artifacts;
}

std::optional<ArtifactRecord> StateDb::modelVersion(const std::string& model,
                                                    const std::string& version) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      (std::string(kArtifactSelect) + "WHERE model = ? AND version = ? ORDER BY rowid DESC LIMIT 1")
          .c_str());
  statement.bind(1, model).bind(2, version);
  if (!statement.step()) return std::nullopt;
  return readArtifact(statement);
}

void StateDb::putMount(const MountRecord& mount) {
  std::lock_guard lock(mutex_);
  prepare("INSERT OR REPLACE INTO mounts (name, mountpoint, pid, uri) VALUES (?, ?, ?, ?)")
      .bind(1, mount.name)
      .bind(2, mount.mountpoint)
      .bind(3, mount.pid)
      .bind(4, mount.uri)
      .step();
}

void StateDb::removeMount(const std::string& name) {
  std::lock_guard lock(mutex_);
  prepare("DELETE FROM mounts WHERE name = ?").bind(1, name).step();
}

std::vector<MountRecord> StateDb::mounts() {
  std::lock_guard lock(mutex_);
  auto statement = prepare("SELECT name, mountpoint, pid, uri FROM mounts ORDER BY name");
  std::vector<MountRecord> mounts;
  while (statement.step()) {
    mounts.push_back({statement.text(0), statement.text(1), static_cast<int>(statement.integer(2)),
                      statement.text(3)});
  }
  return mounts;
}

int StateDb::supervisorPid() {
  std::lock_guard lock(mutex_);
  auto statement = prepare("SELECT pid FROM supervisor WHERE id = 1");
  return statement.step() ? static_cast<int>(statement.integer(0)) : 0;
}

void StateDb::setSupervisorPid(int pid) {
  std::lock_guard lock(mutex_);
  prepare("INSERT OR REPLACE INTO supervisor (id, pid) VALUES (1, ?)").bind(1, pid).step();
}

void StateDb::setLoginToken(const std::string& name, const std::string& token) {
  const std::filesystem::path dir = path_.parent_path() / "tokens";
  makePrivateDirectory(dir);
  const int fd = openPrivateFile(dir / name, O_WRONLY | O_TRUNC);
  const bool written =
      ::write(fd, token.data(), token.size()) == static_cast<ssize_t>(token.size());
  ::close(fd);
  if (!written) throw Error("cannot write the login token", (dir / name).string());
}

std::string StateDb::loginToken(const std::string& name) const {
  std::ifstream in(path_.parent_path() / "tokens" / name);
  std::string token;
  std::getline(in, token);
  return token;
}

}  // namespace skiff::deploy::local
