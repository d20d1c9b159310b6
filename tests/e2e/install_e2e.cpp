// rflow as a package: `cmake --install` into a fresh prefix, then examples/cpp_sampler — a project
// outside the tree that only does find_package(rflow) — is configured, built against it and run on
// a freshly trained run; the installed CLI exports that run to TorchScript.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/io/npy.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

TEST(Install, AnOutsideProjectBuildsAgainstTheInstalledPackageAndSamples) {
  rflow::test::TempDir dir;
  const std::string prefix = dir.file("prefix"), build = dir.file("sampler");
  auto r = rflow::test::shell("cmake --install '" + std::string(RFLOW_BUILD_DIR) + "' --prefix '" + prefix + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"include/rflow/rflow.h", "lib/cmake/rflow/rflowConfig.cmake",
                        "lib/cmake/rflow/rflowConfigVersion.cmake", "bin/rflow", "share/rflow/python/rflow/export.py"})
    EXPECT_TRUE(fs::exists(fs::path(prefix) / f)) << f;

  const std::string gen = rflow::test::shell("command -v ninja").code == 0 ? " -G Ninja" : "";
  const std::string launcher =
      rflow::test::shell("command -v ccache").code == 0 ? " -DCMAKE_CXX_COMPILER_LAUNCHER=ccache" : "";
  r = rflow::test::shell("cmake -S '" + std::string(RFLOW_SOURCE_DIR) + "/examples/cpp_sampler' -B '" + build + "'" + gen +
                         launcher + " -DCMAKE_PREFIX_PATH='" + prefix + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  r = rflow::test::shell("cmake --build '" + build + "'");
  ASSERT_EQ(r.code, 0) << r.out;

  r = rflow::test::shell(std::string(RFLOW_CLI) + " run " + RFLOW_SOURCE_DIR + "/configs/demo_2d.toml --set out_dir=" +
                         dir.path().string() + " --set train.steps=400 --set 'stages=[\"train\"]' --set threads=1");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string out = dir.file("samples.npy");
  r = rflow::test::shell("OMP_NUM_THREADS=1 '" + build + "/cpp_sampler' '" + dir.file("demo_2d") + "' '" + out + "' 500");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("500 samples, 8 NFE each, step 400"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("one sample, 100 Euler steps: "), std::string::npos) << r.out;
  const at::Tensor x = rflow::io::read_npy(out);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{500, 2}));
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
  // Carried away from the noise (mean radius ~1.25) towards the circle of gaussians (radius 4).
  EXPECT_GT(x.norm(2, 1).mean().item<double>(), 2.5);
  // The installed CLI exports with the installed Python package (where Python has torch).
  const bool python = rflow::test::shell("/usr/bin/python3 -c 'import numpy, torch'").code == 0;
  if (!python && rflow::test::on_ci()) ADD_FAILURE() << "missing under CI=true: python3 with numpy and torch (the export)";
  if (python) {
    r = rflow::test::shell("RFLOW_PYTHON=/usr/bin/python3 '" + prefix + "/bin/rflow' export '" + dir.file("demo_2d") +
                           "' -o '" + dir.file("field.pt") + "'");
    EXPECT_EQ(r.code, 0) << r.out;
    // The exported field is the trained one: one Euler step through it in Python lands where the
    // installed CLI's one Euler step lands from the same noise.
    rflow::io::write_npy(dir.file("x0.npy"), torch::randn({64, 2}));
    r = rflow::test::shell("'" + prefix + "/bin/rflow' sample '" + dir.file("demo_2d") + "' --x0 '" + dir.file("x0.npy") +
                           "' --solver euler --steps 1 -o '" + dir.file("one.npy") + "'");
    ASSERT_EQ(r.code, 0) << r.out;
    r = rflow::test::shell("/usr/bin/python3 -c \"import numpy as np, torch; f = torch.jit.load('" + dir.file("field.pt") +
                           "'); x0 = torch.from_numpy(np.load('" + dir.file("x0.npy") + "')); one = np.load('" +
                           dir.file("one.npy") + "'); x1 = (x0 + f(x0, torch.zeros(len(x0)))).detach().numpy(); "
                           "print('maxdiff', float(abs(x1 - one).max()))\"");
    ASSERT_EQ(r.code, 0) << r.out;
    const auto at = r.out.find("maxdiff ");
    ASSERT_NE(at, std::string::npos) << r.out;
    EXPECT_LT(std::stod(r.out.substr(at + 8)), 1e-5) << r.out;
  }
  // Its errors are rflow::Error lines and exit code 1.
  r = rflow::test::shell("'" + build + "/cpp_sampler' '" + dir.file("nothing") + "' '" + out + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no such run or file"), std::string::npos) << r.out;
}
