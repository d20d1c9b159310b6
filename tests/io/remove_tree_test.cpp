// rflow::io::remove_tree does std::filesystem::remove_all's job: nested trees go with every entry
// counted, links are removed and never followed, a missing path is no error, a file is one entry,
// and a tree it may not remove reports the error (code or exception) instead of half-claiming success.
#include <gtest/gtest.h>

#include <fstream>

#include "rflow/io/remove_tree.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using rflow::io::remove_tree;

TEST(RemoveTree, RemovesNestedTreesButNeverFollowsLinks) {
  rflow::test::TempDir dir;
  const fs::path tree = dir.path() / "tree", outside = dir.path() / "outside";
  fs::create_directories(tree / "a" / "b" / "c");
  fs::create_directories(outside);
  std::ofstream(outside / "keep.txt") << "keep";
  for (const char* f : {"x.txt", "a/y.txt", "a/b/c/z.txt"}) std::ofstream(tree / f) << f;
  fs::create_directory_symlink(outside, tree / "a" / "link");
  // tree, a, b, c, 3 files, 1 link
  EXPECT_EQ(remove_tree(tree), 8u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(tree)));
  EXPECT_TRUE(fs::exists(outside / "keep.txt"));  // the link's target stays
  EXPECT_EQ(remove_tree(tree), 0u);                // missing: nothing to do, no error
  std::error_code ec;
  EXPECT_EQ(remove_tree(outside / "keep.txt", ec), 1u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(remove_tree(outside / "keep.txt" / "under_a_file", ec), 0u);
  EXPECT_FALSE(ec);
}

TEST(RemoveTree, ReportsWhatItCannotRemove) {
  // procfs refuses every unlink, root's too.
  const fs::path proc = "/proc/self/status";
  ASSERT_TRUE(fs::exists(proc));
  std::error_code ec;
  EXPECT_EQ(remove_tree(proc, ec), static_cast<std::uintmax_t>(-1));
  EXPECT_TRUE(ec);
  EXPECT_THROW(remove_tree(proc), fs::filesystem_error);
}
