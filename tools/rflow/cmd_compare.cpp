// `rflow compare RUN RUN... -o compare.html`: one page comparing finished runs.
#include <spdlog/spdlog.h>

#include "rflow/pipeline/report/compare_runs.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

void add_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "one HTML page comparing runs: a table of every model and curves overlaid");
  cmd->footer("\nExamples:\n  rflow compare runs/demo_2d runs/ot -o compare.html\n"
              "  rflow compare runs/reflow_8gaussians runs/reflow_moons");
  auto runs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("compare.html");
  cmd->add_option("runs", *runs, "run directories (made by rflow run)")->required();
  cmd->add_option("-o,--out", *out, "the HTML page to write")->capture_default_str();
  cmd->callback([runs, out] {
    write_run_comparison(*runs, *out);
    spdlog::info("compare: {} runs → {}", runs->size(), *out);
  });
}

}  // namespace rflow::cli
