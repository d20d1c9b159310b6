#include "rflow/io/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "rflow/core/error.h"
#include "tests/test_util.h"

namespace {

using rflow::test::TempDir;
using rflow::test::read_text;
using rflow::test::write_text;
namespace fs = std::filesystem;

std::vector<std::string> tmp_leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

std::string binary_payload(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7919) & 0xff);
  return s;
}

TEST(AtomicFile, WritesExactBytesIncludingNuls) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  const std::string bytes = binary_payload(100000, 1);
  rflow::io::write_file_atomic(path, bytes);
  EXPECT_TRUE(read_text(path) == bytes);
  EXPECT_TRUE(rflow::io::read_file(path) == bytes);
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(AtomicFile, ReplacesExistingFileCompletely) {
  TempDir dir;
  const std::string path = dir.file("a.txt");
  rflow::io::write_file_atomic(path, std::string(1000, 'x'));
  rflow::io::write_file_atomic(path, "short");
  EXPECT_EQ(read_text(path), "short");
  rflow::io::write_file_atomic(path, "");
  EXPECT_EQ(rflow::io::read_file(path), "");
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(AtomicFile, CreatesMissingParentDirectories) {
  TempDir dir;
  const std::string path = dir.file("x/y/z/out.bin");
  rflow::io::write_file_atomic(path, "data");
  EXPECT_EQ(read_text(path), "data");
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(AtomicFile, ParentIsARegularFileThrowsAndLeavesNothing) {
  TempDir dir;
  write_text(dir.file("blocker"), "keep me");
  try {
    rflow::io::write_file_atomic(dir.file("blocker") + "/out.bin", "data");
    ADD_FAILURE() << "expected rflow::Error";
  } catch (const rflow::Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocker"), std::string::npos) << e.what();
    EXPECT_FALSE(e.hint().empty());
  }
  EXPECT_EQ(read_text(dir.file("blocker")), "keep me");
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
  EXPECT_THROW(rflow::io::write_file_atomic(dir.file("blocker") + "/deeper/out.bin", "data"),
               rflow::Error);
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(AtomicFile, TargetIsADirectoryThrowsAndRemovesTemp) {
  TempDir dir;
  fs::create_directory(dir.file("d"));
  write_text(dir.file("d/inside"), "x");
  // The temp file gets written fine; only the rename fails, so this exercises the cleanup path.
  EXPECT_THROW(rflow::io::write_file_atomic(dir.file("d"), "data"), rflow::Error);
  EXPECT_TRUE(fs::is_directory(dir.file("d")));
  EXPECT_EQ(read_text(dir.file("d/inside")), "x");
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(AtomicFile, EmptyPathThrows) {
  EXPECT_THROW(rflow::io::write_file_atomic("", "x"), rflow::Error);
}

TEST(AtomicFile, ConcurrentWritersNeverProduceAMix) {
  TempDir dir;
  const std::string path = dir.file("shared.bin");
  constexpr int kThreads = 4, kWrites = 10;
  constexpr std::size_t kSize = 1 << 16;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        try {
          rflow::io::write_file_atomic(path, binary_payload(kSize, t * 100 + i));
        } catch (...) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
  const std::string final_bytes = read_text(path);
  bool matches_one = false;
  for (int t = 0; t < kThreads && !matches_one; ++t)
    for (int i = 0; i < kWrites && !matches_one; ++i)
      matches_one = final_bytes == binary_payload(kSize, t * 100 + i);
  EXPECT_TRUE(matches_one) << "final file is not one complete write";
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(ReadFile, MissingFileNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("missing.bin");
  try {
    rflow::io::read_file(path);
    ADD_FAILURE() << "expected rflow::Error";
  } catch (const rflow::Error& e) {
    EXPECT_EQ(e.where(), path);
    EXPECT_NE(std::string(e.what()).find("missing.bin"), std::string::npos);
  }
}

TEST(ReadFile, DirectoryIsNotAFile) {
  TempDir dir;
  EXPECT_THROW(rflow::io::read_file(dir.path().string()), rflow::Error);
}

TEST(ReadFile, EnforcesMaxBytes) {
  TempDir dir;
  const std::string path = dir.file("f.bin");
  write_text(path, std::string(100, 'a'));
  EXPECT_EQ(rflow::io::read_file(path, 100).size(), 100u);
  EXPECT_THROW(rflow::io::read_file(path, 99), rflow::Error);
  EXPECT_THROW(rflow::io::read_file(path, 0), rflow::Error);
}

}  // namespace
