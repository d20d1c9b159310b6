// Python and rflow both ways. The Python package (python/rflow, pure Python on numpy + torch) against the C++ tools: a run
// trained by `rflow run` loads in Python from its directory or from one weight file, and its
// samples from the same noise equal `rflow sample`'s within 1e-5 (unconditional and
// class-conditional MLPs, Heun and RK4); `python3 -m rflow.export` writes TorchScript that
// rflow's torchscript backbone loads back as the same field.
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/eval/eval_result.h"
#include "rflow/io/idx.h"
#include "rflow/io/npy.h"
#include "rflow/io/remove_tree.h"
#include "rflow/io/safetensors.h"
#include "rflow/nn/model_config.h"
#include "rflow/nn/torchscript_field.h"
#include "rflow/pipeline/run_context.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {
// The package installed the way users install it: pip from (a copy of) the source folder, offline,
// into dir/site. Returns that folder ("" after a failed assertion).
std::string pip_install(rflow::test::TempDir& dir) {
  fs::copy(std::string(RFLOW_SOURCE_DIR) + "/python", dir.file("src"), fs::copy_options::recursive);
  auto pip = rflow::test::shell("/usr/bin/python3 -m pip install --quiet --no-deps --no-build-isolation --no-index --target " +
                                dir.file("site") + " " + dir.file("src"));
  EXPECT_EQ(pip.code, 0) << pip.out;
  return pip.code == 0 ? dir.file("site") : "";
}
// 128 8×8 images whose brightness follows their label (0–3), so a conditional model must use it,
// as IDX files dir/images.idx and dir/labels.idx.
void write_labelled_images(rflow::test::TempDir& dir) {
  const at::Tensor labels = torch::arange(128, torch::kInt64).remainder(4);
  const at::Tensor images =
      (torch::rand({128, 8, 8}) * 60 + labels.view({128, 1, 1}).to(torch::kFloat) * 60).to(torch::kUInt8);
  rflow::io::write_idx(dir.file("images.idx"), images);
  rflow::io::write_idx(dir.file("labels.idx"), labels.to(torch::kUInt8));
}
}  // namespace

TEST(Python, ARunLoadsInPythonAndSamplesLikeTheCli) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch, pip'").code == 0,
                      "no python3 with numpy, torch and pip (scripts/setup.sh installs them)");
  rflow::test::TempDir dir;
  const std::string site = pip_install(dir);
  ASSERT_FALSE(site.empty());
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

// The U-Net the same way: a small class-conditional U-Net trained by `rflow run` on images (IDX files
// with labels) loads in Python with every parameter, samples like `rflow sample` from the same noise
// and labels (with classifier-free guidance), and `rflow export` writes TorchScript that rflow loads back as the same field.
TEST(Python, AUNetRunLoadsInPythonSamplesLikeTheCliAndExports) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch, pip'").code == 0,
                      "no python3 with numpy, torch and pip (scripts/setup.sh installs them)");
  rflow::test::TempDir dir;
  const std::string site = pip_install(dir);
  ASSERT_FALSE(site.empty());
  torch::manual_seed(3);
  write_labelled_images(dir);
  rflow::test::write_text(dir.file("unet.toml"),
                          "name = \"unet\"\nstages = [\"train\"]\nthreads = 1\n"
                          "[data]\nlabels = true\n[data.source]\nname = \"gaussian\"\n"
                          "[data.target]\nname = \"idx\"\npath = \"" + dir.file("images.idx") + "\"\n"
                          "[data.target.idx]\nlabels_path = \"" + dir.file("labels.idx") + "\"\n"
                          "[model]\narch = \"unet\"\nnum_classes = 4\n"
                          "[model.unet]\nchannels = 8\nchannel_mult = [1, 2]\nres_blocks = 1\n"
                          "attn_resolutions = [4]\nheads = 2\nnorm_groups = 4\n"
                          "[train]\nsteps = 60\nbatch_size = 32\nlr = 3e-3\nwarmup = 0\nema_decay = 0.5\n");
  const std::string cli = RFLOW_CLI, run = dir.file("unet");
  auto r = rflow::test::shell(cli + " run " + dir.file("unet.toml") + " --set out_dir=" + dir.path().string());
  ASSERT_EQ(r.code, 0) << r.out;
  rflow::io::write_npy(dir.file("x0.npy"), torch::randn({16, 1, 8, 8}));
  r = rflow::test::shell(cli + " sample " + run + " --x0 " + dir.file("x0.npy") + " --solver heun --steps 3 --guidance 1.5 -o " +
                         dir.file("cpp.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  rflow::test::write_text(dir.file("golden.py"),
                          "import sys, numpy as np, torch\n"
                          "sys.path.insert(0, '" + site + "')\n"
                          "import rflow\n"
                          "field = rflow.load(sys.argv[1])\n"
                          "assert type(field).__name__ == 'UNetVelocity' and field.num_classes == 4\n"
                          "x0 = torch.from_numpy(np.load(sys.argv[2]))\n"
                          "x = rflow.solve(field, x0, solver='heun', steps=3, labels=torch.arange(16) % 4, guidance=1.5)\n"
                          "np.save(sys.argv[3], x.numpy())\n");
  r = rflow::test::shell("/usr/bin/python3 " + dir.file("golden.py") + " " + run + " " + dir.file("x0.npy") + " " +
                         dir.file("py.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  const at::Tensor x0 = rflow::io::read_npy(dir.file("x0.npy"));
  const at::Tensor cpp = rflow::io::read_npy(dir.file("cpp.npy")), py = rflow::io::read_npy(dir.file("py.npy"));
  ASSERT_EQ(cpp.sizes(), py.sizes());
  const double diff = (cpp - py).abs().max().item<double>();
  EXPECT_LT(diff, 1e-5);
  std::cout << "unet: largest difference C++ vs Python " << diff << "\n";
  // Not a vacuous match: the trained field moved the noise (an untrained U-Net predicts v = 0).
  EXPECT_GT((cpp - x0).abs().mean().item<double>(), 0.2);

  // `rflow export` (the CLI runs the package's exporter with the system's Python).
  const std::string pt = dir.file("unet.pt");
  r = rflow::test::shell("RFLOW_PYTHON=/usr/bin/python3 " + cli + " export " + run + " -o " + pt);
  ASSERT_EQ(r.code, 0) << r.out;
  rflow::ModelConfig mc;
  mc.arch = "torchscript";
  mc.get<rflow::TorchScriptOptions>("torchscript").path = pt;
  mc.get<rflow::TorchScriptOptions>("torchscript").labels = true;
  rflow::VelocityField exported = rflow::make_model(mc, {1, 8, 8});
  rflow::LoadedModel original = rflow::load_model(run, /*use_ema=*/true, c10::Device(c10::kCPU));
  torch::NoGradGuard ng;
  const at::Tensor x = torch::randn({10, 1, 8, 8}), t = torch::rand({10});
  rflow::Cond cond;
  cond.labels = torch::arange(10, torch::kInt64).remainder(5) - 1;  // −1 … 3
  const at::Tensor want = original.model->forward(x, t, cond);
  EXPECT_GT(want.abs().mean().item<double>(), 0.1);
  EXPECT_LT((exported->forward(x, t, cond) - want).abs().max().item<double>(), 1e-5);
}

// The DiT mirror, dense and with a MoE feed-forward (routing bias moved by training): a class-
// conditional run trained by `rflow run` samples in Python like the CLI (Heun, CFG 1.5).
TEST(Python, ADiTRunLoadsInPythonAndSamplesLikeTheCli) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch, pip'").code == 0,
                      "no python3 with numpy, torch and pip (scripts/setup.sh installs them)");
  rflow::test::TempDir dir;
  const std::string site = pip_install(dir);
  ASSERT_FALSE(site.empty());
  torch::manual_seed(4);
  write_labelled_images(dir);
  for (const std::string ffn : {"mlp", "moe"}) {
    const std::string name = "dit_" + ffn;
    rflow::test::write_text(dir.file(name + ".toml"),
                            "name = \"" + name + "\"\nstages = [\"train\"]\nthreads = 1\n"
                            "[data]\nlabels = true\n[data.source]\nname = \"gaussian\"\n"
                            "[data.target]\nname = \"idx\"\npath = \"" + dir.file("images.idx") + "\"\n"
                            "[data.target.idx]\nlabels_path = \"" + dir.file("labels.idx") + "\"\n"
                            "[model]\narch = \"dit\"\nnum_classes = 4\n"
                            "[model.dit]\npatch = 2\nhidden = 32\ndepth = 3\nheads = 2\ntime_dim = 32\nffn = \"" + ffn +
                            "\"\nrope_base = 8\n[model.dit.moe]\nexperts = 4\nhidden = 16\ngroups = 2\nlimited_groups = 1\n"
                            "bias_rate = 0.01\n"
                            "[train]\nsteps = 40\nbatch_size = 32\nlr = 3e-3\nwarmup = 0\nema_decay = 0.5\n");
    const std::string cli = RFLOW_CLI, run = dir.file(name);
    auto r = rflow::test::shell(cli + " run " + dir.file(name + ".toml") + " --set out_dir=" + dir.path().string());
    ASSERT_EQ(r.code, 0) << r.out;
    rflow::io::write_npy(dir.file("x0.npy"), torch::randn({16, 1, 8, 8}));
    r = rflow::test::shell(cli + " sample " + run + " --x0 " + dir.file("x0.npy") +
                           " --solver heun --steps 3 --guidance 1.5 -o " + dir.file("cpp.npy"));
    ASSERT_EQ(r.code, 0) << r.out;
    rflow::test::write_text(dir.file("golden.py"),
                            "import sys, numpy as np, torch\n"
                            "sys.path.insert(0, '" + site + "')\n"
                            "import rflow\n"
                            "field = rflow.load(sys.argv[1])\n"
                            "assert type(field).__name__ == 'DiTVelocity' and field.num_classes == 4\n"
                            "x0 = torch.from_numpy(np.load(sys.argv[2]))\n"
                            "x = rflow.solve(field, x0, solver='heun', steps=3, labels=torch.arange(16) % 4, guidance=1.5)\n"
                            "np.save(sys.argv[3], x.numpy())\n"
                            "print(float(sum(m.routing_bias.abs().max() for m in field.moe_layers())) if field.moe_layers() else 0)\n");
    r = rflow::test::shell("/usr/bin/python3 " + dir.file("golden.py") + " " + run + " " + dir.file("x0.npy") + " " +
                           dir.file("py.npy"));
    ASSERT_EQ(r.code, 0) << r.out;
    if (ffn == "moe") EXPECT_GT(std::stod(r.out), 0.0) << "the MoE run's routing bias did not move";
    const at::Tensor x0 = rflow::io::read_npy(dir.file("x0.npy"));
    const at::Tensor cpp = rflow::io::read_npy(dir.file("cpp.npy")), py = rflow::io::read_npy(dir.file("py.npy"));
    ASSERT_EQ(cpp.sizes(), py.sizes());
    const double diff = (cpp - py).abs().max().item<double>();
    EXPECT_LT(diff, 1e-5) << ffn;
    std::cout << name << ": largest difference C++ vs Python " << diff << "\n";
    EXPECT_GT((cpp - x0).abs().mean().item<double>(), 0.2) << ffn;
  }
}

// A velocity network written and scripted in Python (Debian's python3-torch) is a backbone: its
// forward in rflow equals Python's, and `rflow run` trains, reflows, distils, samples and evaluates
// it like the built-in ones (its parameters are fine-tuned: the checkpoint differs from the file),
// and the Python package loads the trained run as the same field.
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
  // The whole chain on it: 1-RF, its pairs, a 2-RF fine-tune and a one-step student distilled from it.
  r = rflow::test::shell(cli + " run " + demo + " --set out_dir=" + dir.path().string() +
                         " --set model.arch=torchscript --set model.torchscript.path=" + pt +
                         " --set train.steps=600 --set eval.n=300 --set eval.nfe=[1,8] --set 'eval.solvers=[\"euler\"]'"
                         " --set sample.n=300 --set eval.likelihood=false --set threads=1"
                         " --set 'stages=[\"train\",\"reflow\",\"distill\",\"sample\",\"eval\"]'"
                         " --set reflow.rounds=1 --set reflow.pairs=2000 --set reflow.solver=euler --set reflow.steps=8"
                         " --set reflow.train.steps=300 --set distill.from=[2] --set distill.train.steps=300");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string run = dir.file("demo_2d");
  const auto met = rflow::eval::read_model_eval(run + "/eval/metrics.json");
  ASSERT_NE(met.find("euler", 8), nullptr);
  ASSERT_NE(met.find("euler", 1), nullptr);
  const double w2_8 = met.find("euler", 8)->score("w2"), w2_1 = met.find("euler", 1)->score("w2");
  // Trained towards the 8 gaussians: 8 Euler steps land much closer than one.
  EXPECT_GT(w2_8, 0.0);
  EXPECT_LT(w2_8, 0.6 * w2_1);
  // The 2-RF and the student are the same scripted network with their own weights, and the
  // student's one step beats the 1-RF's.
  for (const char* model : {"2rf", "distill_2rf"}) {
    r = rflow::test::shell(cli + " info " + run + "/" + model + " --tensors");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("inp__weight"), std::string::npos) << model << "\n" << r.out;
  }
  const auto student = rflow::eval::read_model_eval(run + "/distill_2rf/eval/metrics.json");
  ASSERT_NE(student.find("euler", 1), nullptr);
  EXPECT_LT(student.find("euler", 1)->score("w2"), 0.7 * w2_1);
  std::cout << "W2 at one Euler step: 1-RF " << w2_1 << ", student " << student.find("euler", 1)->score("w2") << "\n";
  ASSERT_NE(rflow::eval::read_model_eval(run + "/2rf/eval/metrics.json").find("euler", 1), nullptr);
  r = rflow::test::shell(cli + " sample " + run + " --solver heun --steps 4 -n 100 -o " + dir.file("s.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  // Fine-tuned: the trained weights are not the file's.
  r = rflow::test::shell(cli + " info " + run + " --tensors");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("inp__weight"), std::string::npos) << r.out;
  rflow::LoadedModel m = rflow::load_model(run, true, c10::Device(c10::kCPU));
  const at::Tensor tuned = m.model->forward(rflow::io::read_npy(dir.file("x.npy")), rflow::io::read_npy(dir.file("t.npy")));
  EXPECT_GT((tuned - v).abs().max().item<double>(), 1e-3);
  // Python loads the trained run too: the file's code with the run's weights.
  rflow::test::write_text(dir.file("load.py"),
                          "import sys, numpy as np, torch\n"
                          "sys.path.insert(0, '" + std::string(RFLOW_SOURCE_DIR) + "/python')\n"
                          "import rflow\n"
                          "field = rflow.load(sys.argv[1])\n"
                          "x, t = torch.from_numpy(np.load(sys.argv[2])), torch.from_numpy(np.load(sys.argv[3]))\n"
                          "np.save(sys.argv[4], field(x, t).detach().numpy())\n");
  r = rflow::test::shell("/usr/bin/python3 " + dir.file("load.py") + " " + run + " " + dir.file("x.npy") + " " +
                         dir.file("t.npy") + " " + dir.file("tuned.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_LT((rflow::io::read_npy(dir.file("tuned.npy")) - tuned).abs().max().item<double>(), 1e-5);
}

// Policies (observations and a variance head) load in Python too, an MLP and a temporal U-Net:
// velocity and σ equal rflow's, and so does a whole adaflow solve (actions and steps per sample).
TEST(Python, APolicyLoadsInPythonWithItsVarianceHead) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch'").code == 0,
                      "no python3 with numpy and torch (Debian's python3-torch)");
  rflow::test::TempDir dir;
  const std::string cli = RFLOW_CLI;
  rflow::test::write_text(dir.file("policy.py"),
                          "import sys, numpy as np, torch\n"
                          "sys.path.insert(0, '" + std::string(RFLOW_SOURCE_DIR) + "/python')\n"
                          "import rflow\n"
                          "field = rflow.load(sys.argv[1])\n"
                          "x, t, o = (torch.from_numpy(np.load(sys.argv[i])) for i in (2, 3, 4))\n"
                          "with torch.no_grad():\n"
                          "    np.save(sys.argv[5], field(x, t, obs=o).numpy())\n"
                          "    np.save(sys.argv[6], field.variance(x, t, obs=o).numpy())\n"
                          "    a = rflow.solve(field, x, solver='adaflow', steps=10, eta=0.3, obs=o)\n"
                          "    np.save(sys.argv[7], a.numpy())\n"
                          "    np.save(sys.argv[8], a.nfe.numpy())\n");
  struct Case {
    std::string config, run, overrides;
    std::vector<int64_t> shape;
    int64_t obs_dim;
  };
  for (const Case& k : {Case{"adaflow_fork1d", "adaflow_fork1d", "", {1}, 1},
                        Case{"adaflow_maze", "unet_maze",
                             " --set name=unet_maze --set model.arch=temporal_unet --set model.temporal_unet.obs_dim=2"
                             " --set model.temporal_unet.variance_hidden=32 --set model.temporal_unet.channels=16"
                             " --set model.temporal_unet.norm_groups=4 --set train.batch_size=64",
                             {4, 2}, 2}}) {
    const std::string run = dir.file(k.run);
    auto r = rflow::test::shell(cli + " policy train " + std::string(RFLOW_SOURCE_DIR) + "/configs/" + k.config +
                                ".toml --set out_dir=" + dir.path().string() + " --set train.steps=300 --set threads=1" +
                                k.overrides);
    ASSERT_EQ(r.code, 0) << r.out;
    torch::manual_seed(8);
    std::vector<int64_t> batch{32};
    batch.insert(batch.end(), k.shape.begin(), k.shape.end());
    const at::Tensor x = torch::randn(batch), t = torch::rand({32}), obs = torch::rand({32, k.obs_dim}) * 2 - 1;
    rflow::io::write_npy(dir.file("x.npy"), x);
    rflow::io::write_npy(dir.file("t.npy"), t);
    rflow::io::write_npy(dir.file("obs.npy"), obs * (k.obs_dim == 1 ? 10 : 1));
    r = rflow::test::shell("/usr/bin/python3 " + dir.file("policy.py") + " " + run + " " + dir.file("x.npy") + " " +
                           dir.file("t.npy") + " " + dir.file("obs.npy") + " " + dir.file("v.npy") + " " +
                           dir.file("s.npy") + " " + dir.file("a.npy") + " " + dir.file("n.npy"));
    ASSERT_EQ(r.code, 0) << r.out;
    rflow::LoadedModel m = rflow::load_model(run, true, c10::Device(c10::kCPU));
    rflow::Cond c;
    c.extra["obs"] = rflow::io::read_npy(dir.file("obs.npy"));
    torch::NoGradGuard ng;
    const at::Tensor v = m.model->forward(x, t, c), s = m.model->variance(x, t, c);
    EXPECT_LT((rflow::io::read_npy(dir.file("v.npy")) - v).abs().max().item<double>(), 1e-5) << k.run;
    EXPECT_LT(((rflow::io::read_npy(dir.file("s.npy")) - s).abs() / s).max().item<double>(), 1e-5) << k.run;
    EXPECT_GT(v.abs().mean().item<double>(), 0.05) << k.run;
    rflow::SolveOptions opt;
    opt.method = "adaflow", opt.steps = 10;
    const rflow::SolveResult a = rflow::solve(*m.model, x, opt, c, rflow::FieldOptions{1.0, 0.3});
    EXPECT_LT((rflow::io::read_npy(dir.file("a.npy")) - a.x).abs().max().item<double>(), 1e-4) << k.run;
    EXPECT_TRUE(rflow::io::read_npy(dir.file("n.npy")).to(torch::kInt64).equal(a.nfe)) << k.run;
    EXPECT_GT(a.nfe.max().item<int64_t>(), 1) << k.run << ": a solve of one step each tells nothing";
  }
}

// The text-conditioned DiT (both text encoders, padding vectors, cross-attention): a tiny run on
// captioned composites samples in Python like `rflow sample --prompt` from the same noise and the
// token ids the CLI writes beside its samples (guidance 2, an empty prompt among them); the export
// refuses it in words.
TEST(Python, ATextConditionedDiTSamplesInPythonLikeTheCli) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch, pip'").code == 0,
                      "no python3 with numpy, torch and pip (scripts/setup.sh installs them)");
  RFLOW_TEST_REQUIRES(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), "no Fashion-MNIST");
  rflow::test::TempDir dir;
  const std::string site = pip_install(dir);
  ASSERT_FALSE(site.empty());
  const std::string cli = RFLOW_CLI, run = dir.file("t2i_fmnist");
  auto r = rflow::test::shell(cli + " run " + RFLOW_SOURCE_DIR + "/configs/t2i_fmnist.toml --set out_dir=" + dir.path().string() +
                              " --set 'stages=[\"train\"]' --set train.steps=40 --set train.lr=3e-3 --set train.warmup=0"
                              " --set train.ema_decay=0.5 --set model.dit.hidden=32 --set model.dit.depth=3 --set model.dit.heads=2"
                              " --set model.dit.text.word_dim=16 --set model.dit.text.char_dim=16 --set model.dit.text.heads=2"
                              " --set threads=1 --set data.target.fashion_composites.layout=row2,col2");
  ASSERT_EQ(r.code, 0) << r.out;
  torch::manual_seed(5);
  rflow::io::write_npy(dir.file("x0.npy"), torch::randn({6, 1, 28, 56}));
  rflow::io::write_npy(dir.file("col_x0.npy"), torch::randn({2, 1, 56, 28}));
  r = rflow::test::shell(cli + " sample " + run + " --x0 " + dir.file("x0.npy") +
                         " --prompt 'a bag left of a sneaker' --prompt '' --prompt 'an ankle boot left of a coat'"
                         " --solver heun --steps 3 --guidance 2 -o " + dir.file("cpp.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  // The same model draws columns (it learned both layouts): 56 × 28 from the same weights.
  r = rflow::test::shell(cli + " sample " + run + " --x0 " + dir.file("col_x0.npy") +
                         " --prompt 'a bag above a coat' --solver heun --steps 3 --guidance 2 -o " + dir.file("col_cpp.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  rflow::test::write_text(dir.file("golden.py"),
                          "import sys, numpy as np, torch\n"
                          "sys.path.insert(0, '" + site + "')\n"
                          "import rflow\n"
                          "field = rflow.load(sys.argv[1])\n"
                          "d = sys.argv[2]\n"
                          "for pre in ['', 'col_']:\n"
                          "    x0 = torch.from_numpy(np.load(d + '/' + pre + 'x0.npy'))\n"
                          "    ids = torch.from_numpy(np.load(d + '/' + pre + 'cpp.context.npy'))\n"
                          "    mask = torch.from_numpy(np.load(d + '/' + pre + 'cpp.mask.npy'))\n"
                          "    x = rflow.solve(field, x0, solver='heun', steps=3, guidance=2.0, context=ids, mask=mask)\n"
                          "    np.save(d + '/' + pre + 'py.npy', x.numpy())\n");
  r = rflow::test::shell("/usr/bin/python3 " + dir.file("golden.py") + " " + run + " " + dir.path().string());
  ASSERT_EQ(r.code, 0) << r.out;
  const at::Tensor col_cpp = rflow::io::read_npy(dir.file("col_cpp.npy")), col_py = rflow::io::read_npy(dir.file("col_py.npy"));
  ASSERT_EQ(col_cpp.sizes(), (std::vector<int64_t>{2, 1, 56, 28}));
  ASSERT_EQ(col_cpp.sizes(), col_py.sizes());
  EXPECT_LT((col_cpp - col_py).abs().max().item<double>(), 1e-4);
  const at::Tensor x0 = rflow::io::read_npy(dir.file("x0.npy"));
  const at::Tensor cpp = rflow::io::read_npy(dir.file("cpp.npy")), py = rflow::io::read_npy(dir.file("py.npy"));
  ASSERT_EQ(cpp.sizes(), py.sizes());
  const double diff = (cpp - py).abs().max().item<double>();
  EXPECT_LT(diff, 1e-4);
  std::cout << "text DiT: largest difference C++ vs Python " << diff << "\n";
  EXPECT_GT((cpp - x0).abs().mean().item<double>(), 0.1);  // the trained field moved the noise
  const at::Tensor ids = rflow::io::read_npy(dir.file("cpp.context.npy"));
  EXPECT_EQ(ids.size(0), 6);
  EXPECT_EQ(rflow::io::read_npy(dir.file("cpp.mask.npy"))[1].sum().item<double>(), 0.0);  // "" is the empty prompt
  r = rflow::test::shell("RFLOW_PYTHON=/usr/bin/python3 " + cli + " export " + run + " -o " + dir.file("t.pt"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("context=ids"), std::string::npos) << r.out;
}

// `import rflow` typed in the repository root (where Python finds the C++ folder first) still gives
// the package; a file that is not safetensors is named as such.
TEST(Python, ImportFromTheRepositoryRootAndNonSafetensorsFilesSayWhatTheyAre) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch'").code == 0,
                      "no python3 with numpy and torch (scripts/setup.sh installs them)");
  rflow::test::TempDir dir;
  rflow::test::write_text(dir.file("bad.safetensors"), "abcdefgh12345678");
  const auto r = rflow::test::shell("cd '" + std::string(RFLOW_SOURCE_DIR) + "' && /usr/bin/python3 -B -c \""
                                    "import rflow, rflow.solvers\n"
                                    "assert callable(rflow.load) and callable(rflow.solvers.solve)\n"
                                    "try:\n"
                                    "    rflow.load('" + dir.file("bad.safetensors") + "')\n"
                                    "except ValueError as e:\n"
                                    "    print(e)\n\"");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("not a safetensors file"), std::string::npos) << r.out;
}

// `rflow export` writes like every other command: links, fifos and devices refused before Python
// starts, the file renamed into place whole (a failed write leaves the previous one as it was, with
// the exporter's reason in one line), and only a checkpoint rflow itself would use is exported: a
// run with NaN weights or with another model's checkpoint copied in is refused.
TEST(Python, ExportFollowsTheOutputRulesAndNeverDestroysThePreviousFile) {
  RFLOW_TEST_REQUIRES(rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch'").code == 0,
                      "no python3 with numpy and torch (scripts/setup.sh installs them)");
  rflow::test::TempDir dir;
  const std::string cli = RFLOW_CLI, demo = std::string(RFLOW_SOURCE_DIR) + "/configs/demo_2d.toml";
  const std::string common = " --set out_dir=" + dir.path().string() + " --set train.steps=40 --set 'stages=[\"train\"]' --set threads=1";
  ASSERT_EQ(rflow::test::shell(cli + " run " + demo + common + " --set name=a").code, 0);
  ASSERT_EQ(rflow::test::shell(cli + " run " + demo + common + " --set name=wide --set model.mlp.hidden=64").code, 0);
  const std::string run = dir.file("a"), pt = dir.file("field.pt");
  auto exp = [&](const std::string& out, const std::string& prefix = "") {
    return rflow::test::shell(prefix + "RFLOW_PYTHON=/usr/bin/python3 timeout 120 " + cli + " export " + run + " -o " + out);
  };
  auto r = exp(pt);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(pt + ": TorchScript of " + run), std::string::npos) << r.out;
  const std::string good = rflow::test::read_text(pt);

  rflow::test::write_text(dir.file("victim.npy"), "precious");
  fs::create_symlink(dir.file("victim.npy"), dir.file("link.npy"));
  ASSERT_EQ(::mkfifo(dir.file("fifo.pt").c_str(), 0600), 0);
  for (const std::string bad : {dir.file("link.npy"), dir.file("fifo.pt"), std::string("/dev/null"), std::string("/dev/full")}) {
    r = exp(bad);
    EXPECT_EQ(r.code, 1) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("will not replace it"), std::string::npos) << r.out;
  }
  EXPECT_EQ(rflow::test::read_text(dir.file("victim.npy")), "precious");

  // A write that fails halfway (file size limit: the same failed write as a full disk).
  r = exp(pt, "trap '' XFSZ; ulimit -f 8; ");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("the exporter failed: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("free disk space; the previous " + pt + " is intact"), std::string::npos) << r.out;
  EXPECT_EQ(rflow::test::read_text(pt), good);
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();

  // Another model's checkpoint copied into the run: export, info and sample refuse to pass it off.
  const std::string mine = run + "/checkpoints/step_00000040";
  fs::rename(mine, run + "/mine");
  fs::copy(dir.file("wide/checkpoints/step_00000040"), mine, fs::copy_options::recursive);
  for (const std::string cmd : {" export " + run + " -o " + dir.file("x.pt"), " info " + run, " sample " + run + " -n 4 -o " + dir.file("s.npy")}) {
    r = rflow::test::shell("RFLOW_PYTHON=/usr/bin/python3 " + cli + cmd);
    EXPECT_EQ(r.code, 1) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("was written for another model than this run's"), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(dir.file("x.pt")));
  rflow::io::remove_tree(mine);
  fs::rename(run + "/mine", mine);

  // NaN weights: the only checkpoint is damaged, nothing is exported.
  {
    auto ema = rflow::io::load_safetensors(mine + "/ema.safetensors");
    ema.tensors[0].second = ema.tensors[0].second * std::nan("");
    rflow::io::save_safetensors(mine + "/ema.safetensors", ema.tensors, ema.metadata);
  }
  r = exp(dir.file("nan.pt"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("NaN"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.file("nan.pt")));
}
