// `rflow export RUN -o field.pt`: a trained field as TorchScript. LibTorch's C++ frontend cannot
// turn its modules into TorchScript, so this runs the Python package's exporter (python/rflow,
// which rebuilds the field in PyTorch and traces it) with Python 3 and torch from the system.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "tools/rflow/commands.h"

namespace rflow::cli {

namespace {
namespace fs = std::filesystem;

// The folder holding the `rflow` Python package: next to an installed CLI (share/rflow/python), or
// the source tree this CLI was built from; "" leaves it to Python's own path (a pip install).
std::string python_package_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "rflow" / "python";
    if (fs::is_regular_file(installed / "rflow" / "export.py")) return installed.string();
  }
#ifdef RFLOW_SOURCE_PYTHON
  if (fs::is_regular_file(fs::path(RFLOW_SOURCE_PYTHON) / "rflow" / "export.py")) return RFLOW_SOURCE_PYTHON;
#endif
  return "";
}

// Runs argv with PYTHONPATH led by `path`; returns the exit status (127: could not start). quiet:
// its output goes nowhere.
int run_python(const std::vector<std::string>& args, const std::string& path, bool quiet = false) {
  const pid_t pid = fork();
  RF_CHECK(pid >= 0, "cannot start a process", "rflow export", "");
  if (pid == 0) {
    if (quiet) {
      if (FILE* null = std::fopen("/dev/null", "w")) {
        dup2(fileno(null), 1);
        dup2(fileno(null), 2);
      }
    }
    if (!path.empty()) {
      const char* old = std::getenv("PYTHONPATH");
      setenv("PYTHONPATH", (old && *old ? path + ":" + old : path).c_str(), 1);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
}  // namespace

void add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "write a trained field as TorchScript (for PyTorch and LibTorch programs)");
  cmd->footer("\nNeeds Python 3 with torch (Debian: apt install python3-torch); RFLOW_PYTHON picks the interpreter.\n"
              "The file's forward is (x, t) for unconditional fields, (x, t, labels) for class-conditional ones.\n"
              "\nExamples:\n  rflow export runs/demo_2d -o field.pt\n"
              "  rflow export runs/fmnist_cond/2rf --no-ema -o 2rf_raw.pt\n"
              "  rflow export runs/demo_2d/checkpoints/step_00006000/ema.safetensors -o field.pt");
  auto run = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>("field.pt");
  auto no_ema = std::make_shared<bool>(false);
  cmd->add_option("run", *run, "run directory, checkpoints/ or step_* folder, or one weight file (.safetensors)")
      ->required();
  cmd->add_option("-o,--out", *out, "the TorchScript file to write")->capture_default_str();
  cmd->add_flag("--no-ema", *no_ema, "the raw weights instead of the EMA");
  cmd->callback([run, out, no_ema] {
    RF_CHECK(fs::exists(*run), "no such run, checkpoint or weight file", *run, "pass a run directory made by rflow run");
    // The interpreter: RFLOW_PYTHON, else the first of python3 on the PATH and the system's own
    // that has torch (a virtualenv's or pyenv's python3 often lacks it, Debian's python3-torch not).
    const char* env = std::getenv("RFLOW_PYTHON");
    std::vector<std::string> candidates{"python3", "/usr/bin/python3"};
    if (env && *env) candidates = {env};
    std::string python;
    int probe = 127;
    for (const auto& c : candidates) {
      const int p = run_python({c, "-c", "import numpy, torch"}, "", /*quiet=*/true);
      if (p == 0) {
        python = c;
        break;
      }
      if (p != 127) probe = p;
    }
    const std::string tried = candidates.size() == 1 ? "'" + candidates[0] + "'" : "python3 or /usr/bin/python3";
    RF_CHECK(!python.empty() || probe != 127, "cannot run " + tried, "rflow export",
             "install Python 3 with torch (Debian: apt install python3-torch) or set RFLOW_PYTHON");
    RF_CHECK(!python.empty(), tried + " has no torch or numpy", "rflow export",
             "install them (Debian: apt install python3-torch) or point RFLOW_PYTHON at a Python that has them");
    const std::string pkg = python_package_dir();
    RF_CHECK(!pkg.empty() || run_python({python, "-c", "import rflow.export"}, "", true) == 0,
             "the rflow Python package is neither installed next to this rflow nor importable by " + python,
             "rflow export", "pip install the python/ folder of rflow's sources, or cmake --install rflow");
    std::vector<std::string> args{python, "-m", "rflow.export", *run, *out};
    if (*no_ema) args.push_back("--no-ema");
    RF_CHECK(run_python(args, pkg) == 0, "the export failed (the exporter's message above)", *run, "");
  });
}

}  // namespace rflow::cli
