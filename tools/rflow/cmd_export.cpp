// `rflow export RUN -o field.pt`: a trained field as TorchScript. LibTorch's C++ frontend cannot
// turn its modules into TorchScript, so this runs the Python package's exporter (python/rflow,
// which rebuilds the field in PyTorch and traces it) with Python 3 and torch from the system.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"
#include "rflow/pipeline/run_context.h"
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

struct Child {
  int status = 127;    // exit status (127: could not start; 128 + n: killed by signal n)
  std::string output;  // stdout and stderr together, when captured
};

// Runs argv with PYTHONPATH led by `path`. capture: its output is collected (else it goes nowhere).
// The child dies with rflow (a killed export leaves no Python process behind).
Child run_python(const std::vector<std::string>& args, const std::string& path, bool capture) {
  int pipefd[2] = {-1, -1};
  RF_CHECK(!capture || ::pipe2(pipefd, O_CLOEXEC) == 0, "cannot create a pipe", "rflow export", "");
  const pid_t parent = ::getpid();
  const pid_t pid = fork();
  RF_CHECK(pid >= 0, "cannot start a process", "rflow export", "");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(127);  // rflow died between fork and prctl
    const int out = capture ? pipefd[1] : ::open("/dev/null", O_WRONLY);
    if (out >= 0) ::dup2(out, 1), ::dup2(out, 2);
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
  Child c;
  if (capture) {
    ::close(pipefd[1]);
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      if (c.output.size() < (1u << 20)) c.output.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipefd[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  c.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return c;
}

// The line of a failure that says what went wrong: rflow.export's own one-line error, else the
// last "SomeError: message" of a traceback, else a C++ exception's what(), else the last line.
std::string last_line(const std::string& text) {
  static const std::regex python_error(R"(^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Exit)\b.*)");
  std::string last, error, what;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line.rfind("frame #", 0) == 0) continue;
    last = line;
    if (line.rfind("rflow.export: error: ", 0) == 0) return line.substr(21);
    if (std::regex_match(line, python_error)) error = line;
    if (const auto w = line.find("what():"); w != std::string::npos) what = line.substr(w + 7);
  }
  const std::string& pick = !error.empty() ? error : !what.empty() ? what : last;
  const std::size_t begin = pick.find_first_not_of(' ');
  return begin == std::string::npos ? "(no message)" : pick.substr(begin);
}

bool disk_full(const std::string& text) {
  for (const char* sign : {"No space left", "file write failed", "Errno 28", "File too large", "Errno 27"})
    if (text.find(sign) != std::string::npos) return true;
  return false;
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
      const int p = run_python({c, "-c", "import numpy, torch"}, "", /*capture=*/false).status;
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
    RF_CHECK(!pkg.empty() || run_python({python, "-c", "import rflow.export"}, "", false).status == 0,
             "the rflow Python package is neither installed next to this rflow nor importable by " + python,
             "rflow export", "pip install the python/ folder of rflow's sources, or cmake --install rflow");
    // The checkpoint rflow itself would use (damaged ones skipped, another model's refused, NaN
    // weights refused), so the exporter never reads what `rflow sample` would not.
    const LoadedModel m = load_model(*run, !*no_ema, c10::Device(c10::kCPU));
    // Written next to the output and renamed over it: a failed export leaves the old file whole.
    const std::string tmp = io::begin_output(*out);
    std::vector<std::string> args{python, "-m", "rflow.export", m.checkpoint, tmp};
    if (*no_ema) args.push_back("--no-ema");
    const Child c = run_python(args, pkg, /*capture=*/true);
    if (c.status != 0) {
      std::error_code ec;
      fs::remove(tmp, ec);
      const std::string why = last_line(c.output);
      throw Error("the exporter failed: " + why, *out,
                  disk_full(c.output) ? "free disk space; the previous " + *out + " is intact"
                                      : "the previous " + *out + " is intact; run python3 -m rflow.export by hand to see its traceback");
    }
    io::finish_output(tmp, *out);
    std::cout << *out << ": TorchScript of " << m.checkpoint << (*no_ema ? " (raw weights)" : "") << "\n";
  });
}

}  // namespace rflow::cli
