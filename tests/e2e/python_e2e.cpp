// Python and rflow both ways. The Python package (python/rflow, pure Python on numpy + torch) against the C++ tools: a run
// trained by `rflow run` loads in Python from its directory or from one weight file, and its
// samples from the same noise equal `rflow sample`'s within 1e-5 (unconditional and
// class-conditional MLPs, Heun and RK4); `python3 -m rflow.export` writes TorchScript that
// rflow's torchscript backbone loads back as the same field.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/eval/eval_result.h"
#include "rflow/io/npy.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/torchscript_field.h"
#include "rflow/pipeline/run_context.h"
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

    // TorchScript out and back in: the exported file, loaded as rflow's torchscript backbone,
    // is the run's field.
    const std::string pt = dir.file(c.name + ".pt");
    r = rflow::test::shell("PYTHONPATH=" + site + " /usr/bin/python3 -m rflow.export " + run + " " + pt);
    ASSERT_EQ(r.code, 0) << r.out;
    rflow::ModelConfig mc;
    mc.arch = "torchscript";
    mc.get<rflow::TorchScriptOptions>("torchscript").path = pt;
    mc.get<rflow::TorchScriptOptions>("torchscript").labels = !c.extra.empty();
    rflow::VelocityField exported = rflow::make_model(mc, {2});
    rflow::LoadedModel original = rflow::load_model(run, /*use_ema=*/true, c10::Device(c10::kCPU));
    torch::NoGradGuard ng;
    const at::Tensor x = torch::randn({64, 2}), t = torch::rand({64});
    rflow::Cond cond;
    if (!c.extra.empty()) cond.labels = torch::arange(64, torch::kInt64).remainder(9) - 1;  // −1 … 7
    EXPECT_LT((exported->forward(x, t, cond) - original.model->forward(x, t, cond)).abs().max().item<double>(), 1e-5)
        << c.name;
  }
}

// A velocity network written and scripted in Python (Debian's python3-torch) is a backbone: its
// forward in rflow equals Python's, and `rflow run` trains, samples and evaluates it like the
// built-in ones (its parameters are fine-tuned: the checkpoint differs from the file).
TEST(Python, ANetworkScriptedInPythonTrainsAndSamplesInRflow) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch'").code == 0,
                      "no python3 with numpy and torch (Debian's python3-torch)");
  rflow::test::TempDir dir;
  const std::string pt = dir.file("field.pt");
  rflow::test::write_text(dir.file("make.py"),
                          "import sys, numpy as np, torch\n"
                          "from torch import nn\n"
                          "class Net(nn.Module):\n"
                          "    def __init__(self):\n"
                          "        super().__init__()\n"
                          "        self.inp = nn.Linear(3, 64)\n"
                          "        self.mid = nn.Linear(64, 64)\n"
                          "        self.out = nn.Linear(64, 2)\n"
                          "    def forward(self, x, t):\n"
                          "        h = torch.nn.functional.silu(self.inp(torch.cat([x, t.unsqueeze(1)], 1)))\n"
                          "        return self.out(torch.nn.functional.silu(self.mid(h)))\n"
                          "torch.manual_seed(0)\n"
                          "net = torch.jit.script(Net())\n"
                          "net.save(sys.argv[1])\n"
                          "x, t = torch.randn(64, 2), torch.rand(64)\n"
                          "np.save(sys.argv[2], x.numpy()); np.save(sys.argv[3], t.numpy())\n"
                          "np.save(sys.argv[4], net(x, t).detach().numpy())\n");
  auto r = rflow::test::shell("/usr/bin/python3 " + dir.file("make.py") + " " + pt + " " + dir.file("x.npy") + " " +
                              dir.file("t.npy") + " " + dir.file("v.npy"));
  ASSERT_EQ(r.code, 0) << r.out;

  rflow::ModelConfig mc;
  mc.arch = "torchscript";
  mc.get<rflow::TorchScriptOptions>("torchscript").path = pt;
  rflow::VelocityField field = rflow::make_model(mc, {2});
  const at::Tensor v = field->forward(rflow::io::read_npy(dir.file("x.npy")), rflow::io::read_npy(dir.file("t.npy")));
  EXPECT_LT((v - rflow::io::read_npy(dir.file("v.npy"))).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(rflow::count_parameters(*field), 3 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2);

  const std::string cli = RFLOW_CLI, demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  r = rflow::test::shell(cli + " run " + demo + " --set out_dir=" + dir.path().string() +
                         " --set model.arch=torchscript --set model.torchscript.path=" + pt +
                         " --set train.steps=600 --set eval.n=300 --set eval.nfe=[1,8] --set 'eval.solvers=[\"euler\"]'"
                         " --set sample.n=300 --set eval.likelihood=false --set threads=1");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string run = dir.file("demo_2d");
  const auto met = rflow::eval::read_model_eval(run + "/eval/metrics.json");
  ASSERT_NE(met.find("euler", 8), nullptr);
  ASSERT_NE(met.find("euler", 1), nullptr);
  const double w2_8 = met.find("euler", 8)->score("w2"), w2_1 = met.find("euler", 1)->score("w2");
  // Trained towards the 8 gaussians: 8 Euler steps land much closer than one.
  EXPECT_GT(w2_8, 0.0);
  EXPECT_LT(w2_8, 0.6 * w2_1);
  r = rflow::test::shell(cli + " sample " + run + " --solver heun --steps 4 -n 100 -o " + dir.file("s.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  // Fine-tuned: the trained weights are not the file's.
  r = rflow::test::shell(cli + " info " + run + " --tensors");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("inp__weight"), std::string::npos) << r.out;
  rflow::LoadedModel m = rflow::load_model(run, true, c10::Device(c10::kCPU));
  EXPECT_GT((m.model->forward(rflow::io::read_npy(dir.file("x.npy")), rflow::io::read_npy(dir.file("t.npy"))) - v)
                .abs()
                .max()
                .item<double>(),
            1e-3);
}
