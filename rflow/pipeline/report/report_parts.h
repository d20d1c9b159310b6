// Blocks that every run report (stage_report.cpp) and the comparison page of several runs
// (compare_runs.h) draw the same way: the summary of a run's results, its training curves, where
// and with what it ran, and its config as the keys that differ from the defaults.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rflow/eval/eval_result.h"
#include "rflow/io/html_report.h"
#include "rflow/io/svg.h"
#include "rflow/pipeline/chain.h"

namespace rflow {

struct RunConfig;

// v to `significant` digits (%g style, locale-independent), as every report table writes numbers.
std::string short_number(double v, int significant = 4);

// A model of a run with its eval results (models without results are left out).
struct EvaluatedModel {
  ChainModel model;
  eval::ModelEval eval;
};
std::vector<EvaluatedModel> evaluated_models(const RunConfig& cfg, const std::string& run_dir);

// The score a report leads with for a kind of data: "w2" (points) or "fid_proxy" (images), and
// its name in tables ("W2", "FID-proxy").
std::string headline_score(const eval::ModelEval& m);
std::string headline_name(const std::string& score);

// metrics.jsonl as curves over the step: loss (finite values), learning rate, gradient norm, and
// every other number a method logs (its loss terms), labelled by key in first-seen order; empty
// when the file is missing.
struct TrainingLog {
  io::Series loss, lr, grad_norm;
  std::vector<io::Series> terms;
};
TrainingLog read_training_log(const std::string& metrics_jsonl);

// One row per model: its score at the fewest NFE evaluated, its best score (and at which NFE),
// the floor and its straightness (students: their k-step map, no straightness).
void summary_table(io::HtmlReport& rep, const std::vector<EvaluatedModel>& models);
// The solvers any model was evaluated with, in first-seen order.
std::vector<std::string> solvers_seen(const std::vector<EvaluatedModel>& models);
// One series per (model, solver) of `key` against NFE, over the results that have it.
std::vector<io::Series> score_vs_nfe(const std::vector<EvaluatedModel>& models, const std::string& key);
// One row per (model, solver), a column per NFE and one for adaptive solvers; `cell` formats a result.
void score_table(io::HtmlReport& rep, const RunConfig& cfg, const std::vector<EvaluatedModel>& models,
                 const std::function<std::string(const eval::SolverResult&)>& cell, const std::string& floor_cell,
                 const std::string& floor_label = "(train vs test)");

// The bias-corrected exponential average of logged losses (about 20 points): a constant loss gives
// itself from the first point on.
std::vector<double> smoothed_losses(const std::vector<double>& losses);
// A log axis only for losses that are all positive and span at least a factor of 10 (a negative
// log-likelihood loss would vanish from a log axis; a flat one reads better on a linear one).
bool log_axis_suits(const std::vector<double>& values);

// A logged term's key as a reader names it ("variance_nll" -> "variance NLL", "flow_loss" -> "flow loss").
std::string readable_term(const std::string& key);
// Training loss (raw and smoothed), learning rate, gradient norm and each logged loss term apart
// (its axis chosen by log_axis_suits) from metrics.jsonl; nothing when the file is missing.
// `label` prefixes the captions.
std::vector<std::pair<std::string, std::string>> training_figures(const std::string& metrics_jsonl,
                                                                 const std::string& label = {});

// Key facts of where and how the run ran: rflow version, machine (system.json), threads, stage
// times and peak memory (stages/*.done), when its stages finished.
std::vector<std::pair<std::string, std::string>> run_metadata(const std::string& run_dir);

// "key = value" for every key that differs from the defaults (all keys: the full config.json).
std::string non_default_keys(const RunConfig& cfg);

// Per config, "key = value, …" for each key whose value is not the same in all of them: what tells
// runs apart in a comparison. Left out: bookkeeping (names, folders, checkpoint and log cadence,
// the sample stage, extra eval solvers) and sections of backbones, methods or data a run did not
// select. Empty strings for one config.
std::vector<std::string> keys_that_differ(const std::vector<const RunConfig*>& cfgs);

// Euler error vs NFE of a model ("" when it has no Euler results).
std::optional<io::Series> euler_curve(const EvaluatedModel& m, const std::string& label, std::size_t color);

}  // namespace rflow
