// rflow serve as a client meets it, over loopback: it starts on a free port and says which; the
// bearer token guards /v1 and not /healthz; concurrent clients, merged into shared solves, each get
// the samples the same request gets alone; a body over the limit is 413; SIGTERM lets a request in
// flight finish and the server exits 0.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

// `rflow serve` as a child process whose output goes to a file; the port from its first line.
struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string log;

  Server(const std::vector<std::string>& args, const std::string& log_path) : log(log_path) {
    std::vector<std::string> argv{RFLOW_CLI, "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid = rflow::test::spawn(argv, log);
    EXPECT_GT(pid, 0);
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 600 && port == 0; ++i) {
      std::smatch m;
      const std::string out = rflow::test::read_text(log);
      if (std::regex_search(out, m, listening)) port = std::stoi(m[1]);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // Sends SIGTERM and returns the exit code (−1 if it did not exit normally).
  int stop() {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ~Server() {
    if (pid > 0) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
  }
};

}  // namespace

TEST(Serve, ClientsOverLoopbackGetTheirOwnSamplesTheTokenGuardsAndSigtermDrains) {
  rflow::test::TempDir dir;
  auto r = rflow::test::shell(std::string(RFLOW_CLI) + " run " + RFLOW_SOURCE_DIR + "/configs/demo_2d.toml --set out_dir=" +
                              dir.path().string() + " --set 'stages=[\"train\"]' --set train.steps=30 --set threads=1");
  ASSERT_EQ(r.code, 0) << r.out;
  Server server({dir.file("demo_2d"), "--port", "0", "--token", "t0k", "--workers", "4", "--max-body-kb", "1"},
                dir.file("serve.log"));
  ASSERT_GT(server.port, 0) << rflow::test::read_text(server.log);
  httplib::Client cli("127.0.0.1", server.port);
  cli.set_read_timeout(60, 0);
  const httplib::Headers auth{{"Authorization", "Bearer t0k"}};
  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto refused = cli.Post("/v1/sample", R"({"n": 2})", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);

  // Each request alone, then all of them from eight clients at once: the same bytes.
  auto body = [](int k) { return R"({"n": 3, "steps": 6, "solver": "heun", "seed": )" + std::to_string(k) + "}"; };
  std::vector<std::string> alone;
  for (int k = 0; k < 16; ++k) {
    auto res = cli.Post("/v1/sample", auth, body(k), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    alone.push_back(res->body);
  }
  std::vector<std::string> together(16);
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&, c] {
      httplib::Client own("127.0.0.1", server.port);
      own.set_read_timeout(60, 0);
      for (int k = c; k < 16; k += 8)
        if (auto res = own.Post("/v1/sample", auth, body(k), "application/json")) together[static_cast<size_t>(k)] = res->body;
    });
  for (auto& t : clients) t.join();
  // Merged into shared solves (dynamic batching), each gets its own samples, to float rounding.
  for (int k = 0; k < 16; ++k) {
    const auto a = nlohmann::json::parse(alone[static_cast<size_t>(k)]);
    const auto t = nlohmann::json::parse(together[static_cast<size_t>(k)].empty() ? "{}" : together[static_cast<size_t>(k)]);
    ASSERT_TRUE(t.contains("samples")) << "request " << k << ": " << together[static_cast<size_t>(k)];
    EXPECT_EQ(t["nfe"], a["nfe"]);
    for (size_t i = 0; i < 3; ++i)
      for (size_t d = 0; d < 2; ++d)
        EXPECT_NEAR(t["samples"][i][d].get<double>(), a["samples"][i][d].get<double>(), 1e-5) << "request " << k;
  }

  // A body over --max-body-kb is refused before it is read.
  auto big = cli.Post("/v1/sample", auth, std::string(4096, ' ') + "{}", "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto metrics = cli.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("rflow_requests_total{endpoint=\"/v1/sample\",status=\"200\"} 32"), std::string::npos)
      << metrics->body;
  std::smatch solves, merged;
  ASSERT_TRUE(std::regex_search(metrics->body, solves, std::regex("rflow_batched_solves_total\\{model=\"demo_2d\"\\} ([0-9]+)")));
  ASSERT_TRUE(std::regex_search(metrics->body, merged, std::regex("rflow_batched_requests_total\\{model=\"demo_2d\"\\} ([0-9]+)")));
  EXPECT_EQ(std::stoi(merged[1]), 32);
  EXPECT_LE(std::stoi(solves[1]), 32);

  // SIGTERM while a long request runs: it is answered in full, then the server exits 0.
  int slow_status = 0;
  std::thread slow([&] {
    httplib::Client own("127.0.0.1", server.port);
    own.set_read_timeout(120, 0);
    if (auto res = own.Post("/v1/sample", auth, R"({"n": 1024, "steps": 1000, "solver": "rk4"})", "application/json"))
      slow_status = res->status;
  });
  for (int i = 0; i < 200; ++i) {  // until the server counts it in flight
    auto m = cli.Get("/metrics");
    if (m && m->body.find("rflow_requests_in_flight 2") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.stop(), 0) << rflow::test::read_text(server.log);
  slow.join();
  EXPECT_EQ(slow_status, 200);
  EXPECT_NE(rflow::test::read_text(server.log).find("SIGTERM received"), std::string::npos);
}

namespace {

// The page at `url` in headless Chromium after its script ran: the DOM, and the console's lines.
std::pair<std::string, std::string> page_in_browser(const std::string& browser, const std::string& url,
                                                    const std::string& screenshot) {
  // No sandbox: tests run as root in CI containers, where Chromium's sandbox cannot start.
  const std::string common = browser + " --no-sandbox --disable-gpu --window-size=1200,900 --virtual-time-budget=15000 ";
  const auto dump = rflow::test::shell("timeout 120 " + common + "--enable-logging=stderr --v=0 --dump-dom '" + url + "'");
  EXPECT_EQ(dump.code, 0) << dump.out;
  std::string dom, console;
  std::istringstream in(dump.out);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos) console += line + "\n";
    else if (line.rfind("[", 0) != 0) dom += line + "\n";
  }
  fs::create_directories("test-output");
  rflow::test::shell("timeout 120 " + common + "--screenshot=" + fs::absolute("test-output/" + screenshot).string() + " '" + url + "'");
  return {dom, console};
}

// Occurrences of `what` in the page's result, before its script (which spells them itself).
size_t in_result(const std::string& dom, const std::string& what) {
  const size_t from = dom.find("id=\"result\""), to = dom.find("<script", from);
  size_t count = 0;
  for (size_t at = dom.find(what, from); at < to; at = dom.find(what, at + 1)) ++count;
  return count;
}

}  // namespace

// The page at / in headless Chromium: it lists the models, draws on load (?generate=1) and shows
// the points with their NFE; a maze policy evaluated on load walks its episodes to the end and says
// how many reached the goal; a text-to-image model plays the conversation box turn by turn; no
// console error.
TEST(Serve, ThePageDrawsSamplesWalksAMazePolicyAndChatsInABrowser) {
  const std::string browser = "/usr/bin/chromium-headless-shell";
  RFLOW_TEST_REQUIRES(fs::exists(browser), "no headless Chromium (scripts/setup.sh installs chromium-headless-shell)");
  rflow::test::TempDir dir;
  const std::string common = " --set out_dir=" + dir.path().string() + " --set threads=1";
  auto r = rflow::test::shell(std::string(RFLOW_CLI) + " run " + RFLOW_SOURCE_DIR + "/configs/demo_2d.toml" + common +
                              " --set 'stages=[\"train\"]' --set train.steps=30");
  ASSERT_EQ(r.code, 0) << r.out;
  r = rflow::test::shell(std::string(RFLOW_CLI) + " run " + RFLOW_SOURCE_DIR + "/configs/adaflow_maze.toml" + common +
                         " --set train.steps=300");
  ASSERT_EQ(r.code, 0) << r.out;
  const bool images = fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  if (images) {
    r = rflow::test::shell(std::string(RFLOW_CLI) + " run " + RFLOW_SOURCE_DIR + "/configs/t2i_fmnist.toml" + common +
                           " --set 'stages=[\"train\"]' --set train.steps=2 --set model.dit.hidden=32 --set model.dit.depth=1"
                           " --set model.dit.heads=2 --set model.dit.text.word_dim=16 --set model.dit.text.char_dim=16"
                           " --set model.dit.text.heads=2");
    ASSERT_EQ(r.code, 0) << r.out;
  } else if (rflow::test::on_ci()) {
    ADD_FAILURE() << "missing under CI=true: Fashion-MNIST (scripts/setup.sh installs dataset-fashion-mnist)";
  }
  std::vector<std::string> args{dir.file("demo_2d"), dir.file("adaflow_maze"), "--port", "0"};
  if (images) args.push_back(dir.file("t2i_fmnist"));
  Server server(args, dir.file("serve.log"));
  ASSERT_GT(server.port, 0) << rflow::test::read_text(server.log);
  const std::string root = "http://127.0.0.1:" + std::to_string(server.port) + "/";
  const auto [dom, console] = page_in_browser(browser, root + "?generate=1", "serve_page.png");
  EXPECT_EQ(console, "");
  EXPECT_NE(dom.find("<option value=\"demo_2d\">demo_2d (points)</option>"), std::string::npos) << dom;
  EXPECT_NE(dom.find("16 samples, NFE 100.0 each"), std::string::npos) << dom;  // the run's own sample.steps
  EXPECT_EQ(in_result(dom, "<circle"), 16u);
  const auto [maze, maze_console] = page_in_browser(browser, root + "?model=adaflow_maze&evaluate=1", "serve_maze.png");
  EXPECT_EQ(maze_console, "");
  EXPECT_NE(maze.find("id=\"maze\""), std::string::npos) << maze;
  EXPECT_EQ(in_result(maze, "class=\"agent\""), 16u);  // the page's default episodes
  // The walk ran to its end: the summary replaced "walking …".
  EXPECT_TRUE(std::regex_search(maze, std::regex("16 episodes: [0-9]+% reached the goal"))) << maze;
  if (images) {
    const auto [talk, talk_console] = page_in_browser(browser, root + "?model=t2i_fmnist&chat=1", "serve_chat.png");
    EXPECT_EQ(talk_console, "");
    EXPECT_NE(talk.find("3 turns,"), std::string::npos) << talk;
    EXPECT_EQ(in_result(talk, "class=\"turn\""), 3u);  // the box's three messages, each with its picture
    EXPECT_NE(talk.find("a sandal left of a sneaker"), std::string::npos) << talk;  // the second turn's prompt
  }
  EXPECT_EQ(server.stop(), 0);
}
