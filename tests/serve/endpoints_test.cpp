// rflow serve's endpoints called as functions (no sockets): sampling answers what a solve of the
// same noise gives and the same request gives the same bytes; a policy acts on each observation;
// every malformed or impossible request is a 4xx naming the field; routing answers 404 / 405 /
// 401; the metrics count what was answered.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/pipeline/pipeline.h"
#include "rflow/pipeline/policy/policy_eval.h"
#include "rflow/serve/batcher.h"
#include "rflow/serve/endpoint.h"
#include "rflow/serve/serve_metrics.h"
#include "rflow/serve/serve_options.h"
#include "rflow/serve/served_models.h"
#include "rflow/serve/solve_request.h"
#include "rflow/solve/likelihood.h"
#include "tests/test_util.h"

using namespace rflow;
using namespace rflow::serve;

namespace {

// A point field and a policy, briefly trained (what holds here holds whatever the weights).
class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    const std::string out = "out_dir=" + dir_->path().string();
    const std::string field = run_pipeline(load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml",
                                                           {out, "stages=[\"train\"]", "train.steps=20", "threads=1"}));
    const std::string policy = run_pipeline(load_run_config(std::string(RFLOW_SOURCE_DIR) + "/configs/adaflow_fork1d.toml",
                                                            {out, "train.steps=20", "threads=1"}));
    models_ = new ServedModels({field, policy}, torch::kCPU);
  }
  static void TearDownTestSuite() {
    delete models_;
    delete dir_;
  }
  Response post(const std::string& path, const std::string& body, const std::string& auth = "") {
    ServeContext ctx{*models_, options_, metrics_};
    return handle("POST", path, Request{body, {}, auth}, ctx);
  }
  static nlohmann::json json_of(const Response& r) { return nlohmann::json::parse(r.body); }
  // The error's field ("request field 'n'") of a 4xx answer.
  static std::string where(const Response& r) { return json_of(r)["error"]["where"].get<std::string>(); }

  ServeOptions options_;
  ServeMetrics metrics_;
  static test::TempDir* dir_;
  static ServedModels* models_;
};
test::TempDir* ServeTest::dir_ = nullptr;
ServedModels* ServeTest::models_ = nullptr;

}  // namespace

TEST_F(ServeTest, SamplesAreTheSolveOfTheSeedsNoiseAndTheSameRequestGivesTheSameBytes) {
  const std::string body = R"({"model": "demo_2d", "n": 5, "solver": "heun", "steps": 3, "seed": 11})";
  const Response a = post("/v1/sample", body), b = post("/v1/sample", body);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, b.body);
  const auto j = json_of(a);
  EXPECT_EQ(j["nfe"], nlohmann::json({6, 6, 6, 6, 6}));  // Heun: two evaluations a step
  // What the library's solve gives for the same noise.
  ServedModel& sm = models_->get("demo_2d");
  SolveOptions opt = sm.m.cfg.sample.solve;
  opt.method = "heun", opt.steps = 3;
  const at::Tensor x = solve(*sm.m.model, request_noise(5, {2}, 11), opt, Cond{}, sm.m.cfg.sample.field).x;
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t k = 0; k < 2; ++k) EXPECT_FLOAT_EQ(j["samples"][i][k].get<float>(), x[i][k].item<float>());
  // Another seed, other samples; .npy is the same numbers as bytes.
  EXPECT_NE(post("/v1/sample", R"({"model": "demo_2d", "n": 5, "solver": "heun", "steps": 3, "seed": 12})").body, a.body);
  const Response npy = post("/v1/sample", R"({"model": "demo_2d", "n": 5, "solver": "heun", "steps": 3, "seed": 11, "format": "npy"})");
  ASSERT_EQ(npy.status, 200);
  EXPECT_EQ(npy.content_type, "application/octet-stream");
  EXPECT_EQ(npy.body.substr(1, 5), "NUMPY");
  EXPECT_EQ(npy.headers.at("X-Rflow-Nfe-Mean").substr(0, 3), "6.0");
}

TEST_F(ServeTest, APolicyActsOnEachObservationAndSamplingItIsRefused) {
  const Response r = post("/v1/policy/act", R"({"model": "adaflow_fork1d", "observations": [[0.5], [-0.5], [0.0]], "seed": 3})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto j = json_of(r);
  EXPECT_EQ(j["actions"].size(), 3u);
  EXPECT_EQ(j["nfe"].size(), 3u);
  // One observation alone, unnested, is the first row's action under the same seed's first noise.
  const auto one = json_of(post("/v1/policy/act", R"({"model": "adaflow_fork1d", "observations": [0.5], "seed": 3})"));
  EXPECT_EQ(one["actions"][0], j["actions"][0]);
  EXPECT_EQ(post("/v1/sample", R"({"model": "adaflow_fork1d"})").status, 400);
  EXPECT_EQ(post("/v1/policy/act", R"({"model": "demo_2d", "observations": [0.5]})").status, 400);
  const Response wide = post("/v1/policy/act", R"({"model": "adaflow_fork1d", "observations": [[0.5, 1.0]]})");
  EXPECT_EQ(wide.status, 400);
  EXPECT_EQ(where(wide), "request field 'observations'");
  EXPECT_EQ(post("/v1/policy/act", R"({"model": "adaflow_fork1d", "observations": [[1e999]]})").status, 400);
  EXPECT_EQ(post("/v1/policy/act", R"({"model": "adaflow_fork1d", "observations": [[1e300]]})").status, 400);  // past float
}

// The log-density of given points is the library's backward solve of them (exact divergence for
// 2-D points, the eval stage's dopri5 at 1e-5 unless asked otherwise); Hutchinson's estimate is
// fixed by the seed; what the server cannot afford or the model cannot give is a 400.
TEST_F(ServeTest, LikelihoodIsTheBackwardSolveOfThePointsAndItsLimitsAreClear) {
  const std::string body = R"({"model": "demo_2d", "points": [[0.5, -1.0], [2.0, 0.25], [0, 0]]})";
  const Response a = post("/v1/likelihood", body);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(post("/v1/likelihood", body).body, a.body);
  const auto j = json_of(a);
  EXPECT_EQ(j["divergence"], "exact");
  ServedModel& sm = models_->get("demo_2d");
  SolveOptions opt;
  opt.method = "dopri5", opt.rtol = opt.atol = 1e-5;
  opt.max_nfe = 4 * options_.max_steps;
  const at::Tensor pts = torch::tensor({0.5f, -1.0f, 2.0f, 0.25f, 0.0f, 0.0f}).view({3, 2});
  const auto lr = log_prob(bind_field(*sm.m.model), pts, opt, LikelihoodOptions{},
                           [&](const at::Tensor& z) { return sm.m.data->source().log_prob(z); });
  double mean = 0;
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(j["log_p"][i].get<double>(), lr.log_p[i].item<double>(), 1e-9) << i;
    EXPECT_NEAR(j["bits_per_dim"][i].get<double>(), -lr.log_p[i].item<double>() / (2 * std::log(2.0)), 1e-9) << i;
    EXPECT_EQ(j["nfe"][i].get<int64_t>(), lr.solve.nfe[i].item<int64_t>()) << i;
    mean += j["log_p"][i].get<double>() / 3;
  }
  EXPECT_NEAR(j["mean_log_p"].get<double>(), mean, 1e-9);
  // Hutchinson: the same seed, the same estimate; another seed, another one (two Rademacher probes
  // of a 2-D Jacobian differ unless it is diagonal).
  const std::string h = R"({"model": "demo_2d", "points": [[0.5, -1.0], [2.0, 0.25]], "divergence": "hutchinson", "solver": "rk4", "steps": 8)";
  const Response h1 = post("/v1/likelihood", h + R"(, "seed": 1})"), h2 = post("/v1/likelihood", h + R"(, "seed": 2})");
  ASSERT_EQ(h1.status, 200) << h1.body;
  EXPECT_EQ(post("/v1/likelihood", h + R"(, "seed": 1})").body, h1.body);
  EXPECT_NE(json_of(h1)["log_p"], json_of(h2)["log_p"]);
  // Refusals, each naming its field.
  EXPECT_EQ(where(post("/v1/likelihood", R"({"model": "demo_2d", "points": [[1, 2, 3]]})")), "request field 'points'");
  EXPECT_EQ(where(post("/v1/likelihood", R"({"model": "adaflow_fork1d", "points": [[1]]})")), "request field 'model'");
  EXPECT_EQ(where(post("/v1/likelihood", R"({"model": "demo_2d", "points": [[1, 2]], "divergence": "trace"})")),
            "request field 'divergence'");
  options_.max_exact_dims = 1;
  const Response big = post("/v1/likelihood", R"({"model": "demo_2d", "points": [[1, 2]], "divergence": "exact"})");
  EXPECT_EQ(big.status, 400);
  EXPECT_EQ(where(big), "request field 'divergence'");
  EXPECT_EQ(json_of(post("/v1/likelihood", R"({"model": "demo_2d", "points": [[1, 2]]})"))["divergence"], "hutchinson");
}

// A policy evaluated over HTTP measures what `rflow policy eval` measures with the same settings
// (its task, seed and solver), the same request twice gives the same bytes, and only policies are
// evaluated.
TEST_F(ServeTest, APolicyIsEvaluatedOnItsTaskAsTheCliEvaluatesIt) {
  const std::string body = R"({"model": "adaflow_fork1d", "samples": 12, "solver": "euler", "steps": 3, "seed": 5})";
  const Response r = post("/v1/policy/evaluate", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(post("/v1/policy/evaluate", body).body, r.body);
  const auto j = json_of(r);
  EXPECT_EQ(j["task"], "fork1d");
  EXPECT_TRUE(j["replay"].is_null());
  ServedModel& sm = models_->get("adaflow_fork1d");
  PolicyEvalOptions opt;
  opt.solve = sm.m.cfg.sample.solve, opt.field = sm.m.cfg.sample.field;
  opt.solve.method = "euler", opt.solve.steps = 3, opt.solve.max_nfe = 4 * options_.max_steps;
  opt.samples = 12, opt.seed = 5;
  const PolicyEvaluation e = evaluate_policy(sm.m, opt);
  EXPECT_EQ(j["summary"], e.summary);
  EXPECT_EQ(j["svg"], e.svg);
  EXPECT_NE(json_of(post("/v1/policy/evaluate", R"({"model": "adaflow_fork1d", "samples": 12, "steps": 3, "seed": 6})"))["summary"],
            j["summary"]);
  EXPECT_EQ(where(post("/v1/policy/evaluate", R"({"model": "demo_2d"})")), "request field 'model'");
  EXPECT_EQ(where(post("/v1/policy/evaluate", R"({"model": "adaflow_fork1d", "episodes": 0})")), "request field 'episodes'");
  ServeContext ctx{*models_, options_, metrics_};
  EXPECT_EQ(json_of(handle("GET", "/v1/models", {}, ctx))["models"][1]["task"], "fork1d");
}

TEST_F(ServeTest, EveryBadRequestIsA4xxNamingWhatToFix) {
  struct Case {
    std::string body;
    int status;
    std::string where;
  };
  const std::vector<Case> cases{
      {"[1, 2", 400, "request body"},
      {"[1, 2]", 400, "request body"},
      {R"({"model": "nope"})", 404, "request field 'model'"},
      {R"({"n": 0})", 400, "request field 'n'"},
      {R"({"n": 100000})", 400, "request field 'n'"},
      {R"({"n": "4"})", 400, "request field 'n'"},
      {R"({"n": 18446744073709551615})", 400, "request field 'n'"},
      {R"({"steps": 1001})", 400, "request field 'steps'"},
      {R"({"solver": "rk9"})", 400, "request field 'solver'"},
      {R"({"guidance": -1})", 400, "request field 'guidance'"},
      {R"({"seed": -1})", 400, "request field 'seed'"},
      {R"({"labels": [1]})", 400, "request field 'labels'"},
      {R"({"prompt": "a bag"})", 400, "request field 'prompt'"},
      {R"({"format": "png"})", 400, "request field 'format'"},
      {R"({"stpes": 4})", 400, "request field 'stpes'"},
  };
  for (const auto& c : cases) {
    const Response r = post("/v1/sample", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " → " << r.body;
    if (r.status >= 400) EXPECT_EQ(where(r), c.where) << c.body;
  }
  // A misspelt field says what was meant.
  EXPECT_NE(json_of(post("/v1/sample", R"({"stpes": 4})"))["error"]["hint"].get<std::string>().find("steps"), std::string::npos);
}

TEST_F(ServeTest, RoutingAnswersUnknownPathsWrongMethodsAndMissingTokensAndTheMetricsCountIt) {
  ServeContext ctx{*models_, options_, metrics_};
  EXPECT_EQ(handle("GET", "/v2/sample", {}, ctx).status, 404);
  EXPECT_EQ(handle("GET", "/v1/sample", {}, ctx).status, 405);
  // A path that is not UTF-8 is echoed in valid JSON (found by fuzz/serve_request_fuzz.cpp).
  const Response odd = handle("POST", "/v1/not\xb1", {}, ctx);
  EXPECT_EQ(odd.status, 404);
  EXPECT_EQ(json_of(odd)["error"]["where"], "/v1/not\xef\xbf\xbd");
  const auto list = json_of(handle("GET", "/v1/models", {}, ctx));
  ASSERT_EQ(list["models"].size(), 2u);
  EXPECT_EQ(list["models"][0]["name"], "demo_2d");
  EXPECT_EQ(list["models"][1]["kind"], "policy");
  EXPECT_EQ(list["models"][1]["conditioning"]["observation"], 1);
  EXPECT_EQ(list["models"][0]["fingerprint"].get<std::string>().size(), 16u);
  options_.token = "s3cret";
  EXPECT_EQ(post("/v1/sample", "{}").status, 401);
  EXPECT_EQ(post("/v1/sample", "{}", "Bearer wrong").status, 401);
  EXPECT_EQ(post("/v1/sample", "{}", "Bearer s3cret").status, 200);
  EXPECT_EQ(handle("GET", "/healthz", {}, ctx).status, 200);  // open to supervisors
  // The metrics' text: counters by endpoint and status, cumulative latency buckets.
  for (int i = 0; i < 3; ++i) metrics_.started(), metrics_.finished("/v1/sample", 200, 0.002 * i);
  metrics_.started(), metrics_.finished("/v1/sample", 400, 0.0001);
  metrics_.sampled("demo_2d", 7);
  const std::string text = handle("GET", "/metrics", {}, ctx).body;
  EXPECT_NE(text.find("rflow_requests_total{endpoint=\"/v1/sample\",status=\"200\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("rflow_request_seconds_bucket{endpoint=\"/v1/sample\",le=\"0.001\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("rflow_request_seconds_count{endpoint=\"/v1/sample\"} 4"), std::string::npos) << text;
  EXPECT_NE(text.find("rflow_samples_total{model=\"demo_2d\"} 8"), std::string::npos) << text;  // 7 + the token's one
  EXPECT_NE(text.find("rflow_requests_in_flight 0"), std::string::npos) << text;
}

// Dynamic batching: requests sent together are merged into fewer solves, and each gets the samples
// it gets alone (to float rounding); past the queue bound a request is refused with 503.
TEST_F(ServeTest, ConcurrentRequestsAreMergedAndEachGetsItsOwnSamples) {
  ServedModel& sm = models_->get("demo_2d");
  SolveRequest r;
  r.solve = sm.m.cfg.sample.solve;
  r.solve.method = "heun", r.solve.steps = 4;
  r.field = sm.m.cfg.sample.field;
  std::vector<at::Tensor> alone;
  for (int k = 0; k < 8; ++k) alone.push_back(solve_now(sm, request_noise(1 + k % 3, {2}, k), Cond{}, r).x);
  Batcher batcher(sm, BatchOptions{200.0, 1024, 8192});
  std::vector<at::Tensor> merged(8);
  std::vector<std::thread> clients;
  sm.requests_in_progress += 8;  // eight requests on their way, as the endpoints count them
  for (int k = 0; k < 8; ++k)
    clients.emplace_back([&, k] { merged[k] = batcher.solve(request_noise(1 + k % 3, {2}, k), Cond{}, r).x; });
  for (auto& t : clients) t.join();
  sm.requests_in_progress -= 8;
  for (int k = 0; k < 8; ++k) {
    ASSERT_EQ(merged[k].sizes(), alone[k].sizes()) << k;
    EXPECT_TRUE(torch::allclose(merged[k], alone[k], 1e-5, 1e-6)) << k;
  }
  const auto [solves, requests] = batcher.solves_and_requests();
  EXPECT_EQ(requests, 8);
  EXPECT_EQ(solves, 1);  // the first waited (up to 200 ms) while the other seven were on their way
  // A lone request (nothing else on its way) is solved at once, not after the wait.
  const auto t0 = std::chrono::steady_clock::now();
  batcher.solve(request_noise(1, {2}, 0), Cond{}, r);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.15);
  // A queue bounded at 4 samples: while one request of 4 waits, another is refused with 503.
  Batcher small(sm, BatchOptions{300.0, 1024, 4});
  sm.requests_in_progress += 2;  // so the first waits for the second
  std::thread waiting([&] { small.solve(request_noise(4, {2}, 1), Cond{}, r); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  try {
    small.solve(request_noise(1, {2}, 2), Cond{}, r);
    ADD_FAILURE() << "a full queue must refuse";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 503);
  }
  waiting.join();
  sm.requests_in_progress -= 2;
}
