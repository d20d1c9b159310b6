// "Did you mean" for paths: the nearest existing sibling of a missing path, nothing for a path that
// exists or for names too far from every sibling.
#include <gtest/gtest.h>

#include <filesystem>

#include "rflow/io/nearest_path.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

TEST(NearestPath, NamesTheClosestSiblingOfAMissingPath) {
  rflow::test::TempDir dir;
  fs::create_directories(dir.path() / "runs" / "first");
  fs::create_directories(dir.path() / "runs" / "second");
  rflow::test::write_text(dir.file("demo_2d.toml"), "");
  const std::string runs = (dir.path() / "runs").string();
  EXPECT_EQ(rflow::io::nearest_existing_path(runs + "/frist"), runs + "/first");
  EXPECT_EQ(rflow::io::nearest_existing_path(runs + "/frist/"), runs + "/first");
  EXPECT_EQ(rflow::io::nearest_existing_path(dir.file("demo_2.toml")), dir.file("demo_2d.toml"));
  EXPECT_EQ(rflow::io::nearest_existing_path(runs + "/first"), "");           // it exists
  EXPECT_EQ(rflow::io::nearest_existing_path(runs + "/zzzzzzzzzz"), "");      // nothing close
  EXPECT_EQ(rflow::io::nearest_existing_path(runs + "/nope/frist"), "");      // no such folder
  EXPECT_EQ(rflow::io::did_you_mean_path(runs + "/secnod"), "; did you mean '" + runs + "/second'?");
  EXPECT_EQ(rflow::io::did_you_mean_path(runs + "/second"), "");
}
