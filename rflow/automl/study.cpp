#include "rflow/automl/study.h"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "rflow/core/error.h"

namespace rflow::automl {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// The 22nd field of /proc/<pid>/stat (start time in clock ticks): with the pid it names a process
// uniquely, so a recycled pid is not mistaken for the worker.
std::string start_time_of(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(in, line)) return "";
  const size_t close = line.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return "";
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  return field;
}

// Whether a worker "host:pid:start" is alive: only decidable on its own host.
std::optional<bool> alive_here(const std::string& worker) {
  const size_t a = worker.find(':'), b = worker.rfind(':');
  if (a == std::string::npos || a == b || worker.substr(0, a) != host_name()) return std::nullopt;
  const std::string pid = worker.substr(a + 1, b - a - 1), start = worker.substr(b + 1);
  return !start.empty() && start_time_of(pid) == start;
}

// A prepared statement that finalises itself; bind by position from 1.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK)
      throw Error(std::string("SQLite: ") + sqlite3_errmsg(db), "automl study", "this is a bug: " + sql);
  }
  ~Statement() { sqlite3_finalize(st_); }
  Statement& bind(int i, const std::string& v) { return check(sqlite3_bind_text(st_, i, v.c_str(), -1, SQLITE_TRANSIENT)); }
  Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(st_, i, v)); }
  Statement& bind(int i, double v) { return check(std::isnan(v) ? sqlite3_bind_null(st_, i) : sqlite3_bind_double(st_, i, v)); }
  bool step() {
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(std::string("SQLite: ") + sqlite3_errmsg(db_), "automl study", "is the disk full or the file read-only?");
  }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(st_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t integer(int c) const { return sqlite3_column_int64(st_, c); }
  double real(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL ? NAN : sqlite3_column_double(st_, c); }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw Error(std::string("SQLite: ") + sqlite3_errmsg(db_), "automl study", "this is a bug");
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock at once: two workers cannot both read "the next number is
// 7" and both claim it. Rolled back unless committed.
class WriteTransaction {
 public:
  explicit WriteTransaction(sqlite3* db) : db_(db) { run("BEGIN IMMEDIATE"); }
  ~WriteTransaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    run("COMMIT");
    done_ = true;
  }

 private:
  void run(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      throw Error("SQLite: " + msg, "automl study", "another worker may hold the study for long: retry");
    }
  }
  sqlite3* db_;
  bool done_ = false;
};

nlohmann::json point_json(const Point& x) { return nlohmann::json(x); }

}  // namespace

std::string Study::this_worker() {
  const std::string pid = std::to_string(getpid());
  return host_name() + ":" + pid + ":" + start_time_of(pid);
}

Study::Study(const std::string& path, const std::string& name, const nlohmann::json& meta)
    : path_(path), name_(name), meta_(meta) {
  RF_CHECK(!name.empty(), "a study needs a name", path, "name it after what it tunes (demo_2d_lr)");
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open the study database: " + msg, path, "check the directory exists and is writable");
  }
  sqlite3_busy_timeout(db_, 30000);  // other workers' writes are short
  // WAL: readers never block the writer; synchronous=FULL: a commit survives power loss too.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("CREATE TABLE IF NOT EXISTS studies (name TEXT PRIMARY KEY, meta TEXT NOT NULL, created REAL NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS trials (study TEXT NOT NULL, number INTEGER NOT NULL, point TEXT NOT NULL, "
       "state TEXT NOT NULL, value REAL, steps INTEGER NOT NULL DEFAULT 0, worker TEXT NOT NULL, started REAL NOT NULL, "
       "heartbeat REAL NOT NULL, finished REAL, note TEXT NOT NULL DEFAULT '', PRIMARY KEY (study, number))");
  exec("CREATE TABLE IF NOT EXISTS reports (study TEXT NOT NULL, number INTEGER NOT NULL, step INTEGER NOT NULL, "
       "value REAL, predicted REAL, decision TEXT NOT NULL, PRIMARY KEY (study, number, step))");
  WriteTransaction tx(db_);
  Statement get(db_, "SELECT meta FROM studies WHERE name = ?");
  get.bind(1, name);
  if (get.step()) {
    const nlohmann::json stored = nlohmann::json::parse(get.text(0), nullptr, false);
    for (const auto& [k, v] : meta.items())
      RF_CHECK(stored.contains(k) && stored[k] == v,
               "the study '" + name + "' was made with another " + k + " (" + (stored.contains(k) ? stored[k].dump() : "none") +
                   ", now " + v.dump() + ")",
               path, "resume it with the settings it was made with, or start a study of another name");
    meta_ = stored;
  } else {
    Statement put(db_, "INSERT INTO studies (name, meta, created) VALUES (?, ?, ?)");
    put.bind(1, name).bind(2, meta.dump()).bind(3, now_s()).step();
  }
  tx.commit();
}

Study::~Study() { sqlite3_close(db_); }

void Study::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    throw Error("SQLite: " + msg, path_, "is it a study database (rflow auto writes one), and writable?");
  }
}

std::optional<TrialRecord> Study::take_over_abandoned(double stale_s) {
  WriteTransaction tx(db_);
  Statement q(db_, "SELECT number, worker, heartbeat FROM trials WHERE study = ? AND state = 'running' ORDER BY number");
  q.bind(1, name_);
  std::optional<int64_t> found;
  const std::string me = this_worker();
  while (q.step()) {
    const std::string worker = q.text(1);
    if (worker == me) continue;
    const std::optional<bool> alive = alive_here(worker);
    if (alive ? !*alive : now_s() - q.real(2) > stale_s) {
      found = q.integer(0);
      break;
    }
  }
  if (!found) return std::nullopt;
  Statement take(db_, "UPDATE trials SET worker = ?, heartbeat = ?, note = 'taken over' WHERE study = ? AND number = ?");
  take.bind(1, me).bind(2, now_s()).bind(3, name_).bind(4, *found).step();
  tx.commit();
  for (auto& t : trials())
    if (t.number == *found) return t;
  return std::nullopt;
}

int64_t Study::start_trial(const Point& x) {
  WriteTransaction tx(db_);
  Statement next(db_, "SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study = ?");
  next.bind(1, name_);
  next.step();
  const int64_t number = next.integer(0);
  const double t = now_s();
  Statement put(db_, "INSERT INTO trials (study, number, point, state, worker, started, heartbeat) VALUES (?, ?, ?, 'running', ?, ?, ?)");
  put.bind(1, name_).bind(2, number).bind(3, point_json(x).dump()).bind(4, this_worker()).bind(5, t).bind(6, t).step();
  tx.commit();
  return number;
}

void Study::report(int64_t trial, const Report& r) {
  WriteTransaction tx(db_);
  Statement put(db_, "INSERT OR REPLACE INTO reports (study, number, step, value, predicted, decision) VALUES (?, ?, ?, ?, ?, ?)");
  put.bind(1, name_).bind(2, trial).bind(3, r.step).bind(4, r.value).bind(5, r.predicted).bind(6, r.decision).step();
  Statement beat(db_, "UPDATE trials SET heartbeat = ?, steps = ?, value = ? WHERE study = ? AND number = ?");
  beat.bind(1, now_s()).bind(2, r.step).bind(3, r.value).bind(4, name_).bind(5, trial).step();
  tx.commit();
}

void Study::finish(int64_t trial, const std::string& state, double value, int64_t steps, const std::string& note) {
  RF_CHECK(state == "complete" || state == "pruned" || state == "failed", "unknown trial state '" + state + "'",
           "automl study", "complete | pruned | failed");
  WriteTransaction tx(db_);
  Statement put(db_, "UPDATE trials SET state = ?, value = ?, steps = ?, finished = ?, note = ? WHERE study = ? AND number = ?");
  put.bind(1, state).bind(2, value).bind(3, steps).bind(4, now_s()).bind(5, note).bind(6, name_).bind(7, trial).step();
  tx.commit();
}

std::vector<TrialRecord> Study::trials() const {
  std::vector<TrialRecord> out;
  Statement q(db_, "SELECT number, point, state, value, steps, worker, started, finished, note FROM trials WHERE study = ? ORDER BY number");
  q.bind(1, name_);
  while (q.step()) {
    TrialRecord t;
    t.number = q.integer(0);
    t.x = nlohmann::json::parse(q.text(1)).get<Point>();
    t.state = q.text(2), t.value = q.real(3), t.steps = q.integer(4), t.worker = q.text(5);
    t.started = q.real(6), t.finished = q.real(7), t.note = q.text(8);
    out.push_back(std::move(t));
  }
  Statement r(db_, "SELECT number, step, value, predicted, decision FROM reports WHERE study = ? ORDER BY number, step");
  r.bind(1, name_);
  size_t i = 0;
  while (r.step()) {
    const int64_t n = r.integer(0);
    while (i < out.size() && out[i].number < n) ++i;
    if (i < out.size() && out[i].number == n) out[i].reports.push_back({r.integer(1), r.real(2), r.real(3), r.text(4)});
  }
  return out;
}

}  // namespace rflow::automl
