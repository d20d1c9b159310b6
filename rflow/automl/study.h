// A search's record in SQLite: the study (its space, sampler, seed and objective, fixed when it is
// created), its trials (number, point, state, value, how far each trained, which worker runs it)
// and every value a trial reported with the decision taken on it. Each change is one transaction,
// so a worker killed at any instant (kill -9 included) loses nothing committed; its trial is
// left "running" and the next worker to open the study takes it over (its run resumes from its
// last checkpoint). Several processes may work on one study: trial numbers are claimed under
// SQLite's write lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rflow/automl/search_space.h"

struct sqlite3;

namespace rflow::automl {

struct Report {
  int64_t step = 0;
  double value = 0;
  double predicted = 0;     // the learning curve's prediction of the final value (NaN: none yet)
  std::string decision;     // continue | prune | complete
};

struct TrialRecord {
  int64_t number = 0;
  Point x;
  std::string state;        // running | complete | pruned | failed
  double value = 0;         // the last reported (at `steps`), the final once complete; NaN if none
  int64_t steps = 0;
  std::string worker;       // host:pid of the process running it
  double started = 0, finished = 0;  // seconds since the epoch
  std::string note;
  std::vector<Report> reports;
};

class Study {
 public:
  // Opens or creates `path` and the study `name` in it. A new study records `meta` (space,
  // sampler, seed, objective...); an existing one must have been made with the same, else an
  // rflow::Error says which field differs.
  Study(const std::string& path, const std::string& name, const nlohmann::json& meta);
  ~Study();
  Study(const Study&) = delete;
  Study& operator=(const Study&) = delete;

  const nlohmann::json& meta() const { return meta_; }
  // This process's name in the study (host:pid).
  static std::string this_worker();

  // A trial left running by a worker that is gone (on this host: its pid is dead; elsewhere: no
  // sign of life for `stale_s`), taken over by this worker; nothing when there is none.
  std::optional<TrialRecord> take_over_abandoned(double stale_s = 3600);
  // Claims the next trial number for this worker with point x.
  int64_t start_trial(const Point& x);
  void report(int64_t trial, const Report& r);
  void finish(int64_t trial, const std::string& state, double value, int64_t steps, const std::string& note = "");
  // Every trial, by number, with its reports.
  std::vector<TrialRecord> trials() const;

 private:
  void exec(const std::string& sql) const;
  sqlite3* db_ = nullptr;
  std::string path_, name_;
  nlohmann::json meta_;
};

}  // namespace rflow::automl
