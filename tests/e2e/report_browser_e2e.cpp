// The HTML pages rflow writes (a run's report, a reflow chain's, the comparison of runs, a
// policy's report and the comparison of policies), opened by a real browser engine (Debian's
// headless Chromium, installed by scripts/setup.sh for tests): each renders without a console
// message, its DOM holds the sections a reader looks for, tests/e2e/page_check.js finds every
// legend entry drawn, no text sticking out, every figure at one scale and no sideways scrolling,
// and a screenshot of it is kept in build/test-output/ to look at.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const char* kBrowser = "/usr/bin/chromium-headless-shell";

struct Rendered {
  std::string dom, console;  // the DOM after rendering; the page's console messages
  std::string problems;      // what page_check.js found ("" = none)
  bool ok = false, checked = false;
};

Rendered render(const std::string& page, const std::string& screenshot) {
  // No sandbox: tests run as root in CI containers, where Chromium's sandbox cannot start.
  const std::string common = std::string(kBrowser) + " --no-sandbox --hide-scrollbars --disable-gpu --window-size=1600,2400 ";
  // The checks run on a copy with the checking script appended (rflow's pages have no scripts).
  const std::string probe = page + ".check.html";
  rflow::test::write_text(probe, rflow::test::read_text(page) + "<script>" +
                                     rflow::test::read_text(std::string(RFLOW_SOURCE_DIR) + "/tests/e2e/page_check.js") +
                                     "</script>");
  Rendered r;
  const auto dump = rflow::test::shell("timeout 120 " + common + "--enable-logging=stderr --v=0 --dump-dom 'file://" +
                                       probe + "'");
  r.ok = dump.code == 0;
  std::istringstream in(dump.out);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos) r.console += line + "\n";
    else if (line.rfind("[", 0) != 0) r.dom += line + "\n";  // Chromium's own log lines start with "["
  }
  const std::size_t at = r.dom.find("<pre id=\"rflow-check\"");
  if (at != std::string::npos) {
    r.checked = true;
    const std::size_t open = r.dom.find('>', at) + 1;
    r.problems = r.dom.substr(open, r.dom.find("</pre>", open) - open);
  }
  if (!screenshot.empty())
    rflow::test::shell("timeout 120 " + common + "--screenshot='" + screenshot + "' 'file://" + page + "'");
  return r;
}

std::string small(const std::string& out_dir, const std::string& name) {
  return std::string(" --set out_dir=") + out_dir + " --set name=" + name +
         " --set train.steps=300 --set eval.n=200 --set eval.nfe=[1,4] --set sample.n=300"
         " --set eval.trajectories=30 --set eval.likelihood_n=50 --set threads=1";
}


struct Page {
  std::string path, shot;
  std::vector<std::string> expected;
};

void expect_clean(const std::vector<Page>& pages) {
  fs::create_directories("test-output");
  for (const auto& [page, name, expected] : pages) {
    const std::string shot = fs::absolute("test-output/" + name + ".png").string();
    fs::remove(shot);
    const Rendered r = render(page, shot);
    ASSERT_TRUE(r.ok) << page;
    EXPECT_EQ(r.console, "") << page;
    EXPECT_TRUE(r.checked) << page << ": the checking script did not run";
    EXPECT_EQ(r.problems, "") << page;
    EXPECT_NE(r.dom.find("<svg"), std::string::npos) << page;
    for (const auto& text : expected) EXPECT_NE(r.dom.find(text), std::string::npos) << page << ": " << text;
    ASSERT_TRUE(fs::exists(shot)) << shot;
    EXPECT_GT(fs::file_size(shot), 20000u) << shot << " looks blank";
    std::cout << "screenshot: " << shot << "\n";
  }
}

}  // namespace

TEST(ReportInBrowser, TheCheckerSeesWhatAReaderWould) {
  RFLOW_TEST_REQUIRES(fs::exists(kBrowser), "no headless Chromium (scripts/setup.sh installs chromium-headless-shell)");
  rflow::test::TempDir dir;
  // A failing script shows as a console message.
  rflow::test::write_text(dir.file("bad.html"), "<html><body><script>undefinedFunction();</script></body></html>");
  const Rendered bad = render(dir.file("bad.html"), "");
  ASSERT_TRUE(bad.ok);
  EXPECT_NE(bad.console.find("undefinedFunction"), std::string::npos) << bad.console;
  // A legend entry with nothing drawn, text outside its figure, two scales.
  const std::string legend =
      "<g class=\"legend\"><rect x=\"10\" y=\"10\" width=\"30\" height=\"20\"/>"
      "<g class=\"entry\" data-color=\"#123456\"><text x=\"12\" y=\"24\">a much too long label</text></g></g>";
  rflow::test::write_text(dir.file("flawed.html"),
                          "<html><body><figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"100\">" +
                              legend + "<text x=\"190\" y=\"50\">outside</text></svg></figure>"
                              "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"100\" style=\"width:400px\">"
                              "<path d=\"M0 0L50 50\" stroke=\"#000\"/></svg></figure></body></html>");
  const Rendered flawed = render(dir.file("flawed.html"), "");
  ASSERT_TRUE(flawed.checked);
  EXPECT_NE(flawed.problems.find("legend entry \"a much too long label\" has nothing drawn"), std::string::npos) << flawed.problems;
  EXPECT_NE(flawed.problems.find("legend text \"a much too long label\" sticks out of its box"), std::string::npos);
  EXPECT_NE(flawed.problems.find("text \"outside\" sticks out of"), std::string::npos);
  EXPECT_NE(flawed.problems.find("figures drawn at different scales"), std::string::npos);
}

TEST(ReportInBrowser, RunReportsChainsAndTheirComparisonRenderCleanly) {
  RFLOW_TEST_REQUIRES(fs::exists(kBrowser), "no headless Chromium (scripts/setup.sh installs chromium-headless-shell)");
  rflow::test::TempDir dir;
  const std::string cli = RFLOW_CLI, configs = std::string(RFLOW_SOURCE_DIR) + "/configs/";
  for (const char* extra : {"", " --set data.coupling=ot"}) {
    const std::string name = *extra ? "ot" : "independent";
    auto r = rflow::test::shell(cli + " run " + configs + "demo_2d.toml" + small(dir.path().string(), name) + extra);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  // A chain whose one-step students have one point each in the W2-vs-NFE figure.
  auto chain = rflow::test::shell(cli + " run " + configs + "reflow_8gaussians.toml" + small(dir.path().string(), "chain") +
                                  " --set reflow.rounds=1 --set reflow.pairs=1000 --set reflow.train.steps=100"
                                  " --set distill.from=[1,2] --set distill.train.steps=100");
  ASSERT_EQ(chain.code, 0) << chain.out;
  const std::string cmp = dir.file("compare.html");
  auto c = rflow::test::shell(cli + " compare " + dir.file("independent") + " " + dir.file("ot") + " -o " + cmp);
  ASSERT_EQ(c.code, 0) << c.out;
  expect_clean({{dir.file("independent/report.html"), "report_points", {"Summary", "Training", "learning rate", "gradient norm",
                                                                         "Configuration", "<details>", "made by", "stage times", "x₁"}},
                {dir.file("chain/report.html"), "report_chain", {"Reflow and distillation", "2-RF + distill (1 step)", "real vs real"}},
                {cmp, "compare", {"runs compared", "W2 vs NFE", "independent: 1-RF", "ot: 1-RF", "Training loss",
                                  "data.coupling = \"ot\""}}});
}

TEST(ReportInBrowser, PolicyPagesRenderCleanly) {
  RFLOW_TEST_REQUIRES(fs::exists(kBrowser), "no headless Chromium (scripts/setup.sh installs chromium-headless-shell)");
  rflow::test::TempDir dir;
  const std::string cli = RFLOW_CLI, maze = std::string(RFLOW_SOURCE_DIR) + "/configs/adaflow_maze.toml";
  const std::string base = " --set out_dir=" + dir.path().string() + " --set train.steps=400 --set threads=1";
  for (const std::string extra : {std::string(""), std::string(" --set name=bc --set method.name=bc --set model.mlp.variance_hidden=0")}) {
    auto r = rflow::test::shell(cli + " policy train " + maze + base + extra);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  const std::string run = dir.file("adaflow_maze"), report = dir.file("policy.html"), cmp = dir.file("policies.html");
  auto e = rflow::test::shell(cli + " policy eval " + run + " --solver adaflow --eta 0.5 --steps 10 --report " + report);
  ASSERT_EQ(e.code, 0) << e.out;
  auto c = rflow::test::shell(cli + " policy compare " + run + " " + dir.file("bc") + " --samplers adaflow:0.5,euler:1 -o " + cmp);
  ASSERT_EQ(c.code, 0) << c.out;
  expect_clean({{report, "report_policy", {"NFE per chunk", "route A (shortest)", "variance NLL", "flow loss"}},
                {cmp, "policy_compare", {"training steps", "route A (shortest)", "did not reach G"}}});
}
