#include "rflow/io/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
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

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rflow::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

// Renaming over a symlink, a fifo or a device would replace it with a regular file (`-o /dev/full`
// used to turn the device into a file): every such target is refused and left as it was.
TEST(AtomicFile, RefusesTargetsThatAreNotRegularFilesAndLeavesThemAlone) {
  TempDir dir;
  write_text(dir.file("real"), "keep");
  fs::create_symlink(dir.file("real"), dir.file("link"));
  ASSERT_EQ(mkfifo(dir.file("fifo").c_str(), 0644), 0);
  const std::string link_err = error_of([&] { rflow::io::write_file_atomic(dir.file("link"), "new"); });
  EXPECT_NE(link_err.find("symbolic link"), std::string::npos) << link_err;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir.file("link"))));
  EXPECT_EQ(read_text(dir.file("real")), "keep");
  const std::string fifo_err = error_of([&] { rflow::io::write_file_atomic(dir.file("fifo"), "new"); });
  EXPECT_NE(fifo_err.find("fifo"), std::string::npos) << fifo_err;
  EXPECT_TRUE(fs::is_fifo(dir.file("fifo")));
  // A dangling link is a link too: writing "through" it would create a file somewhere else.
  fs::create_symlink(dir.file("nowhere"), dir.file("dangling"));
  EXPECT_NE(error_of([&] { rflow::io::write_file_atomic(dir.file("dangling"), "x"); }).find("symbolic link"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("nowhere")));
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

// A write the file system refuses part-way (here a file-size limit standing in for a full disk:
// the same short write and error path) leaves the previous contents and no temp file, and says why.
TEST(AtomicFile, AWriteThatHitsTheLimitKeepsThePreviousFileAndSaysWhy) {
  TempDir dir;
  write_text(dir.file("f"), "previous");
  std::string err;
  {
    rflow::test::FileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    err = error_of([&] { rflow::io::write_file_atomic(dir.file("f"), std::string(100000, 'x')); });
  }
  EXPECT_NE(err.find("File too large"), std::string::npos) << err;
  EXPECT_NE(err.find("previous file is intact"), std::string::npos) << err;
  EXPECT_EQ(read_text(dir.file("f")), "previous");
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(ReadFile, SaysWhyAFileCannotBeRead) {
  TempDir dir;
  write_text(dir.file("plain"), "x");
  // A path through a regular file: not "missing", the reason from the system.
  const std::string through = error_of([&] { rflow::io::read_file(dir.file("plain") + "/inner"); });
  EXPECT_NE(through.find("Not a directory"), std::string::npos) << through;
  EXPECT_NE(error_of([&] { rflow::io::read_file(dir.path().string()); }).find("a directory"), std::string::npos);
  if (geteuid() != 0) {  // root reads anything: the permission case only exists for other users
    write_text(dir.file("secret"), "x");
    fs::permissions(dir.file("secret"), fs::perms::none);
    const std::string denied = error_of([&] { rflow::io::read_file(dir.file("secret")); });
    EXPECT_NE(denied.find("Permission denied"), std::string::npos) << denied;
  }
}

// A file another program writes (rflow export's Python child) goes through the same rules: links,
// fifos and devices refused before anything runs, the result renamed into place whole, and the
// temporaries of writers killed mid-write removed, never those of a live one.
TEST(AtomicFile, OutputsOtherProgramsWriteFollowTheSameRules) {
  TempDir dir;
  write_text(dir.file("victim.pt"), "precious");
  std::filesystem::create_symlink(dir.file("victim.pt"), dir.file("link.pt"));
  ASSERT_EQ(::mkfifo(dir.file("fifo.pt").c_str(), 0600), 0);
  for (const std::string bad : {dir.file("link.pt"), dir.file("fifo.pt"), std::string("/dev/null"), std::string("/dev/stdout")})
    EXPECT_THROW(rflow::io::begin_output(bad), rflow::Error) << bad;
  EXPECT_EQ(read_text(dir.file("victim.pt")), "precious");

  const std::string out = dir.file("sub/field.pt");
  const std::string tmp = rflow::io::begin_output(out);
  EXPECT_TRUE(std::filesystem::is_directory(dir.file("sub")));
  EXPECT_EQ(tmp.rfind(out + ".tmp.", 0), 0u) << tmp;
  write_text(tmp, "traced");
  rflow::io::finish_output(tmp, out);
  EXPECT_EQ(read_text(out), "traced");
  EXPECT_FALSE(std::filesystem::exists(tmp));

  // A dead writer's temporaries go, a live writer's (this process's parent) and other files stay.
  const std::string dead = dir.file("sub/field.pt.tmp.999999999.3"), live = dir.file("sub/field.pt.tmp." + std::to_string(::getppid()) + ".0");
  for (const auto& f : {dead, live, dir.file("sub/notes.tmp.txt"), dir.file("sub/x.tmp.12.a")}) write_text(f, "x");
  EXPECT_EQ(rflow::io::remove_stale_temporaries(dir.file("sub")), 1);
  EXPECT_FALSE(std::filesystem::exists(dead));
  for (const auto& f : {live, dir.file("sub/notes.tmp.txt"), dir.file("sub/x.tmp.12.a"), out}) EXPECT_TRUE(std::filesystem::exists(f)) << f;
}
