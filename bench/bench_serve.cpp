// Bench: rflow serve under load, over loopback. Starts `rflow serve FIELD POLICY` (dynamic batching
// on, then off), sends `requests` requests from `connections` clients at once — half samples of the
// field (n = 1, Euler 8 steps), half actions of the policy (one observation) — and reports errors,
// p50 / p99 latency, throughput and the server's RSS before and after. Then, one connection at a
// time: the policy endpoint's latency at batch 1 beside /healthz's (the HTTP round trip) and the
// same solve in-process. One JSON object.
// Usage: bench_serve FIELD_RUN POLICY_RUN [requests = 10000] [connections = 64]
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench/child_process.h"
#include "rflow/core/system_info.h"
#include "rflow/io/remove_tree.h"
#include "rflow/pipeline/run_context.h"
#include "rflow/solve/solver.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  Server(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{(std::filesystem::read_symlink("/proc/self/exe").parent_path() / "rflow").string(), "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid = rflow::bench::start_logged(argv, log);
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 1200 && port == 0; ++i) {
      std::smatch m;
      const std::string out = read_all(log);
      if (std::regex_search(out, m, listening)) port = std::stoi(m[1]);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port == 0) throw std::runtime_error("rflow serve did not start:\n" + read_all(log));
  }
  double rss_mb() const {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.substr(6).c_str()) / 1024.0;
    return 0;
  }
  ~Server() {
    if (pid > 0) kill(pid, SIGTERM), waitpid(pid, nullptr, 0);
  }
};

const std::string kSample = R"({"model": "field", "n": 1, "solver": "euler", "steps": 8, "seed": 1})";
const std::string kAct = R"({"model": "policy", "observations": [[0.5]], "solver": "euler", "steps": 8, "seed": 1})";

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * double(v.size())))];
}

// `requests` requests from `connections` clients at once, alternating sample / act.
nlohmann::json load(int port, int64_t requests, int connections) {
  std::atomic<int64_t> next{0}, errors{0};
  std::mutex kinds_mu;
  std::map<std::string, int64_t> kinds;  // what each error was
  std::vector<std::vector<double>> lat(static_cast<size_t>(connections));
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < connections; ++c)
    clients.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", port);
      cli.set_read_timeout(120, 0);
      for (int64_t k; (k = next++) < requests;) {
        const auto t = Clock::now();
        auto res = cli.Post(k % 2 ? "/v1/policy/act" : "/v1/sample", k % 2 ? kAct : kSample, "application/json");
        if (!res || res->status != 200) {
          ++errors;
          std::lock_guard<std::mutex> lock(kinds_mu);
          ++kinds[res ? "status " + std::to_string(res->status) : httplib::to_string(res.error())];
        }
        lat[static_cast<size_t>(c)].push_back(ms_since(t));
      }
    });
  for (auto& t : clients) t.join();
  const double secs = ms_since(t0) / 1000;
  std::vector<double> all;
  for (const auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  return {{"requests", requests}, {"connections", connections}, {"errors", errors.load()}, {"error_kinds", kinds},
          {"p50_ms", percentile(all, 0.5)}, {"p99_ms", percentile(all, 0.99)}, {"requests_per_s", double(requests) / secs}};
}

// One connection, one request at a time: the median of `n` round trips.
double median_ms(int port, const std::string& path, const std::string& body, int n) {
  httplib::Client cli("127.0.0.1", port);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) {
    const auto t = Clock::now();
    auto res = body.empty() ? cli.Get(path) : cli.Post(path, body, "application/json");
    if (!res || res->status != 200) throw std::runtime_error("request failed: " + path);
    v.push_back(ms_since(t));
  }
  return percentile(v, 0.5);
}

// The policy's action in this process (no HTTP): the same solve, the median of n.
double in_process_ms(const std::string& policy, int n) {
  rflow::LoadedModel m = rflow::load_model(policy, true, torch::kCPU);
  rflow::SolveOptions opt = m.cfg.sample.solve;
  opt.method = "euler", opt.steps = 8;
  rflow::Cond c;
  c.extra["obs"] = torch::full({1, 1}, 0.5f);
  std::vector<int64_t> shape{1};
  for (auto s : m.model->sample_shape()) shape.push_back(s);
  torch::NoGradGuard ng;
  std::vector<double> v;
  for (int i = 0; i < n; ++i) {
    const auto t = Clock::now();
    rflow::solve(*m.model, torch::randn(shape), opt, c, m.cfg.sample.field);
    v.push_back(ms_since(t));
  }
  return percentile(v, 0.5);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_serve FIELD_RUN POLICY_RUN [requests = 10000] [connections = 64]\n";
    return 2;
  }
  const std::string field = argv[1], policy = argv[2];
  const int64_t requests = argc > 3 ? std::atoll(argv[3]) : 10000;
  const int connections = argc > 4 ? std::atoi(argv[4]) : 64;
  // Links named field and policy, so the requests' model names do not depend on the runs' folders.
  const std::string dir = std::filesystem::temp_directory_path() / ("rflow_bench_serve_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::create_directory_symlink(std::filesystem::absolute(field), dir + "/field");
  std::filesystem::create_directory_symlink(std::filesystem::absolute(policy), dir + "/policy");
  nlohmann::json out{{"bench", "serve"}, {"system", rflow::system_info_json()}};
  try {
    for (const char* wait : {"2", "0"}) {
      Server server({dir + "/field", dir + "/policy", "--port", "0", "--workers", std::to_string(connections),
                     "--batch-wait-ms", wait},
                    dir + "/serve.log");
      const double rss0 = server.rss_mb();
      nlohmann::json r = load(server.port, requests, connections);
      r["rss_mb_before"] = rss0;
      r["rss_mb_after"] = server.rss_mb();
      if (std::string(wait) == "2") {
        r["rss_mb_after_second_round"] = (load(server.port, requests, connections), server.rss_mb());
        out["policy_batch1_ms"] = median_ms(server.port, "/v1/policy/act", kAct, 500);
        out["healthz_round_trip_ms"] = median_ms(server.port, "/healthz", "", 500);
      } else {
        out["policy_batch1_ms_no_batching"] = median_ms(server.port, "/v1/policy/act", kAct, 500);
      }
      out[std::string(wait) == "2" ? "batching_2ms" : "no_batching"] = r;
    }
    out["policy_in_process_ms"] = in_process_ms(policy, 500);
  } catch (const std::exception& e) {
    rflow::io::remove_tree(dir);
    std::cerr << "bench_serve: " << e.what() << "\n";
    return 1;
  }
  rflow::io::remove_tree(dir);
  std::cout << out.dump() << std::endl;
  return 0;
}
