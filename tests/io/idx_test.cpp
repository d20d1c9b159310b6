#include <zlib.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/idx.h"
#include "tests/test_util.h"

using namespace rflow;
namespace fs = std::filesystem;

namespace {
std::string error_of(const std::string& path) {
  try {
    io::read_idx(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
const char* kFashion = "/usr/share/datasets/fashion-mnist";
}  // namespace

TEST(Idx, ReadsHandWrittenBigEndianFiles) {
  test::TempDir dir;
  test::write_text(dir.file("u8"), std::string("\0\0\x08\x01\0\0\0\x03\x07\x08\x09", 11));
  auto a = io::read_idx(dir.file("u8"));
  EXPECT_EQ(a.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(a, torch::tensor({7, 8, 9}, torch::kUInt8)));
  // int16 [2, 1] = {258, -2}: big-endian on disk.
  test::write_text(dir.file("i16"), std::string("\0\0\x0b\x02\0\0\0\x02\0\0\0\x01\x01\x02\xff\xfe", 16));
  auto b = io::read_idx(dir.file("i16"));
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(b[0][0].item<int64_t>(), 258);
  EXPECT_EQ(b[1][0].item<int64_t>(), -2);
}

TEST(Idx, RoundTripsPlainAndGzip) {
  test::TempDir dir;
  auto u8 = torch::randint(0, 256, {5, 3, 4}, torch::kInt64).to(torch::kUInt8);
  auto f64 = torch::randn({7}, torch::kFloat64);
  auto i32 = torch::randint(-100000, 100000, {2, 2, 2, 2}, torch::kInt64).to(torch::kInt32);
  for (const char* ext : {"", ".gz"}) {
    io::write_idx(dir.file(std::string("a") + ext), u8);
    io::write_idx(dir.file(std::string("b") + ext), f64);
    io::write_idx(dir.file(std::string("c") + ext), i32);
    EXPECT_TRUE(torch::equal(io::read_idx(dir.file(std::string("a") + ext)), u8)) << ext;
    EXPECT_TRUE(torch::equal(io::read_idx(dir.file(std::string("b") + ext)), f64)) << ext;
    EXPECT_TRUE(torch::equal(io::read_idx(dir.file(std::string("c") + ext)), i32)) << ext;
  }
  EXPECT_LT(fs::file_size(dir.file("a.gz")), 200u);
  EXPECT_THROW(io::write_idx(dir.file("x"), torch::zeros({2}, torch::kInt64)), Error);
}

TEST(Idx, CorruptFilesFailBeforeAllocatingWithTheReason) {
  test::TempDir dir;
  io::write_idx(dir.file("ok"), torch::zeros({4, 5, 6}, torch::kUInt8));
  io::write_idx(dir.file("ok.gz"), torch::zeros({4, 5, 6}, torch::kUInt8));
  std::string ok = test::read_text(dir.file("ok")), okgz = test::read_text(dir.file("ok.gz"));
  test::write_text(dir.file("magic"), "\x01" + ok.substr(1));
  EXPECT_NE(error_of(dir.file("magic")).find("bad magic"), std::string::npos);
  test::write_text(dir.file("type"), ok.substr(0, 2) + "\x42" + ok.substr(3));
  EXPECT_NE(error_of(dir.file("type")).find("data type"), std::string::npos);
  test::write_text(dir.file("short"), ok.substr(0, ok.size() - 10));
  EXPECT_NE(error_of(dir.file("short")).find("does not match its header"), std::string::npos);
  test::write_text(dir.file("long"), ok + "xyz");
  EXPECT_NE(error_of(dir.file("long")).find("does not match its header"), std::string::npos);
  // A header that claims 2^30 × 2^30 items in a tiny file: refused by the length check, no allocation.
  test::write_text(dir.file("huge"), std::string("\0\0\x08\x02\x40\0\0\0\x40\0\0\0\0", 13));
  EXPECT_NE(error_of(dir.file("huge")).find("implausibly large"), std::string::npos) << error_of(dir.file("huge"));
  test::write_text(dir.file("huge2"), std::string("\0\0\x08\x02\0\x01\0\0\0\x01\0\0\0", 13));
  EXPECT_NE(error_of(dir.file("huge2")).find("does not match its header"), std::string::npos);
  test::write_text(dir.file("cut.gz"), okgz.substr(0, okgz.size() / 2));
  EXPECT_NE(error_of(dir.file("cut.gz")), "no error");
  EXPECT_NE(error_of(dir.file("missing")).find("file not found"), std::string::npos);
  test::write_text(dir.file("empty"), "");
  EXPECT_NE(error_of(dir.file("empty")).find("too short"), std::string::npos);
}

TEST(Idx, ReadsDebiansFashionMnist) {
  RFLOW_TEST_REQUIRES(fs::exists(std::string(kFashion) + "/t10k-labels-idx1-ubyte.gz"), "dataset-fashion-mnist not installed");
  auto labels = io::read_idx(std::string(kFashion) + "/t10k-labels-idx1-ubyte.gz");
  auto images = io::read_idx(std::string(kFashion) + "/t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(images.sizes(), (std::vector<int64_t>{10000, 28, 28}));
  // Golden values read with Python's gzip module: first labels, class counts, first image's sum.
  EXPECT_TRUE(torch::equal(labels.slice(0, 0, 5), torch::tensor({9, 2, 1, 1, 6}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(torch::bincount(labels.to(torch::kInt64)), torch::full({10}, 1000, torch::kInt64)));
  EXPECT_EQ(images[0].to(torch::kInt64).sum().item<int64_t>(), 33456);
}

// Found by fuzzing: the gzip trailer knows the length only mod 2^32, so a 40-byte gzip file whose
// header claims 2^32 more bytes than it holds passed the length check and allocated them. A claim
// beyond deflate's 1032:1 ratio is refused before any allocation.
TEST(Idx, AGzipFileCannotClaimMoreThanDeflateCanHold) {
  test::TempDir dir;
  // ubyte, 2 dims [4, 2^30]: 4 GiB of data claimed, none present; 12 + 2^32 ≡ 12 (mod 2^32).
  const unsigned char head[12] = {0, 0, 0x08, 2, 0, 0, 0, 4, 0x40, 0, 0, 0};
  const std::string path = dir.file("bomb.idx.gz");
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, head, sizeof head);
  gzclose(f);
  const std::string err = error_of(path);
  EXPECT_NE(err.find("more than a gzip file"), std::string::npos) << err;
}
