// The HTML pages rflow writes (a run's report, the comparison of runs), opened by a real browser
// engine (Debian's headless Chromium, installed by scripts/setup.sh for tests): each renders
// without a console message, its DOM holds the sections a reader looks for, and a screenshot of
// it is kept in build/test-output/ to look at.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const char* kBrowser = "/usr/bin/chromium-headless-shell";

struct Rendered {
  std::string dom, console;  // the DOM after rendering; the page's console messages
  bool ok = false;
};

Rendered render(const std::string& page, const std::string& screenshot) {
  // No sandbox: tests run as root in CI containers, where Chromium's sandbox cannot start.
  const std::string common = std::string(kBrowser) + " --no-sandbox --hide-scrollbars --disable-gpu ";
  Rendered r;
  const auto dump = rflow::test::shell("timeout 120 " + common + "--enable-logging=stderr --v=0 --dump-dom 'file://" +
                                       page + "'");
  r.ok = dump.code == 0;
  std::istringstream in(dump.out);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos) r.console += line + "\n";
    else if (line.rfind("[", 0) != 0) r.dom += line + "\n";  // Chromium's own log lines start with "["
  }
  if (!screenshot.empty())
    rflow::test::shell("timeout 120 " + common + "--window-size=1600,2400 --screenshot='" + screenshot + "' 'file://" +
                       page + "'");
  return r;
}

std::string small(const std::string& out_dir, const std::string& name) {
  return std::string(" --set out_dir=") + out_dir + " --set name=" + name +
         " --set train.steps=300 --set eval.n=200 --set eval.nfe=[1,4] --set sample.n=300"
         " --set eval.trajectories=30 --set eval.likelihood_n=50 --set threads=1";
}

}  // namespace

TEST(ReportInBrowser, RunReportsAndTheirComparisonRenderCleanly) {
  RFLOW_TEST_REQUIRES(fs::exists(kBrowser), "no headless Chromium (scripts/setup.sh installs chromium-headless-shell)");
  // The harness sees console errors: a page with a failing script is caught.
  rflow::test::TempDir dir;
  rflow::test::write_text(dir.file("bad.html"), "<html><body><script>undefinedFunction();</script></body></html>");
  const Rendered bad = render(dir.file("bad.html"), "");
  ASSERT_TRUE(bad.ok);
  EXPECT_NE(bad.console.find("undefinedFunction"), std::string::npos) << bad.console;

  const std::string cli = RFLOW_CLI, demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  for (const char* extra : {"", " --set data.coupling=ot"}) {
    const std::string name = *extra ? "ot" : "independent";
    auto r = rflow::test::shell(cli + " run " + demo + small(dir.path().string(), name) + extra);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  const std::string cmp = dir.file("compare.html");
  auto c = rflow::test::shell(cli + " compare " + dir.file("independent") + " " + dir.file("ot") + " -o " + cmp);
  ASSERT_EQ(c.code, 0) << c.out;

  fs::create_directories("test-output");
  struct Page {
    std::string path, shot;
    std::vector<std::string> expected;
  };
  const Page pages[] = {
      {dir.file("independent/report.html"), "report_points", {"Summary", "Training", "learning rate", "gradient norm", "Configuration",
                                              "<details>", "made by", "stage times", "x₁"}},
      {cmp, "compare", {"runs compared", "W2 vs NFE", "independent: 1-RF", "ot: 1-RF", "Training loss"}}};
  for (const auto& [page, name, expected] : pages) {
    const std::string shot = fs::absolute("test-output/" + name + ".png").string();
    fs::remove(shot);
    const Rendered r = render(page, shot);
    ASSERT_TRUE(r.ok) << page;
    EXPECT_EQ(r.console, "") << page;
    EXPECT_NE(r.dom.find("<svg"), std::string::npos) << page;
    for (const auto& text : expected) EXPECT_NE(r.dom.find(text), std::string::npos) << page << ": " << text;
    ASSERT_TRUE(fs::exists(shot)) << shot;
    EXPECT_GT(fs::file_size(shot), 20000u) << shot << " looks blank";
    std::cout << "screenshot: " << shot << "\n";
  }
}
