// The Python package (python/rflow, pure Python on numpy + torch) against the C++ tools: a run
// trained by `rflow run` loads in Python from its directory or from one weight file, and its
// samples from the same noise equal `rflow sample`'s within 1e-5 (unconditional and
// class-conditional MLPs, Heun and RK4).
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/io/npy.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

TEST(Python, ARunLoadsInPythonAndSamplesLikeTheCli) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch, pip'").code == 0,
                      "no python3 with numpy, torch and pip (scripts/setup.sh installs them)");
  rflow::test::TempDir dir;
  // Installed the way users install it: pip from (a copy of) the source folder, offline.
  fs::copy(std::string(RFLOW_SOURCE_DIR) + "/python", dir.file("src"), fs::copy_options::recursive);
  auto pip = rflow::test::shell("/usr/bin/python3 -m pip install --quiet --no-deps --no-build-isolation --no-index --target " +
                                dir.file("site") + " " + dir.file("src"));
  ASSERT_EQ(pip.code, 0) << pip.out;
  const std::string site = dir.file("site");
  const std::string cli = RFLOW_CLI, demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  torch::manual_seed(7);
  rflow::io::write_npy(dir.file("x0.npy"), torch::randn({256, 2}));
  struct Case {
    std::string name, extra, solver;
    int steps;
  };
  for (const Case& c : {Case{"plain", "", "rk4", 8},
                        Case{"labels", " --set data.labels=true --set model.num_classes=8", "heun", 5}}) {
    auto r = rflow::test::shell(cli + " run " + demo + " --set out_dir=" + dir.path().string() + " --set name=" + c.name +
                                " --set train.steps=300 --set 'stages=[\"train\"]' --set threads=1" + c.extra);
    ASSERT_EQ(r.code, 0) << r.out;
    const std::string run = dir.file(c.name);
    r = rflow::test::shell(cli + " sample " + run + " --x0 " + dir.file("x0.npy") + " --solver " + c.solver + " --steps " +
                           std::to_string(c.steps) + " -o " + dir.file(c.name + "_cpp.npy"));
    ASSERT_EQ(r.code, 0) << r.out;
    // Labels as `rflow sample` draws them for a conditional model: class i mod C.
    const std::string script =
        "import sys, glob, numpy as np, torch\n"
        "sys.path.insert(0, '" + site + "')\n"
        "import rflow\n"
        "run, solver, steps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]\n"
        "x0 = torch.from_numpy(np.load('" + dir.file("x0.npy") + "'))\n"
        "for field in (rflow.load(run), rflow.load_weights_file(sorted(glob.glob(run + '/checkpoints/step_*/ema.safetensors'))[-1])):\n"
        "    k = field.num_classes\n"
        "    labels = torch.arange(x0.shape[0]) % k if k > 0 else None\n"
        "    x = rflow.solve(field, x0, solver=solver, steps=steps, labels=labels)\n"
        "    assert field.rflow['step'] == 300, field.rflow\n"
        "np.save(out, x.numpy())\n";
    rflow::test::write_text(dir.file("golden.py"), script);
    r = rflow::test::shell("/usr/bin/python3 " + dir.file("golden.py") + " " + run + " " + c.solver + " " +
                           std::to_string(c.steps) + " " + dir.file(c.name + "_py.npy"));
    ASSERT_EQ(r.code, 0) << r.out;
    const at::Tensor cpp = rflow::io::read_npy(dir.file(c.name + "_cpp.npy"));
    const at::Tensor py = rflow::io::read_npy(dir.file(c.name + "_py.npy"));
    ASSERT_EQ(cpp.sizes(), py.sizes());
    const double diff = (cpp - py).abs().max().item<double>();
    EXPECT_LT(diff, 1e-5) << c.name;
    std::cout << c.name << ": largest difference C++ vs Python " << diff << "\n";
    // Not a vacuous match: the samples moved from the noise (mean radius ~1.25) towards radius 4.
    EXPECT_GT(cpp.norm(2, 1).mean().item<double>(), 2.0) << c.name;
  }
}
