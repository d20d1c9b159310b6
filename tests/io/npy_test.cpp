#include "rflow/io/npy.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "rflow/core/error.h"
#include "tests/test_util.h"

namespace {

using rflow::test::TempDir;
using rflow::test::read_text;
using rflow::test::write_text;

std::string le16(unsigned v) { return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; }
std::string le32(std::uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

// A .npy file put together by hand: preamble for the given version, dict padded with spaces and a
// final '\n' to a multiple of `align` (numpy uses 64; very old writers used 16).
std::string npy_file(const std::string& dict, const std::string& data, int major = 1,
                     std::size_t align = 64) {
  const std::size_t pre = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((pre + header.size() + 1) % align != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  out += major == 1 ? le16(static_cast<unsigned>(header.size()))
                    : le32(static_cast<std::uint32_t>(header.size()));
  return out + header + data;
}

std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// Exactly what np.save(path, np.arange(6, dtype='<f4').reshape(2, 3)) writes: 10-byte preamble,
// the dict, numpy's 20 spaces of growth room for axis 0 plus alignment padding (118 spaces in
// all after the dict text), '\n' at byte 127, then 24 data bytes.
std::string golden_arange_npy() {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string header = dict + std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  std::string out = std::string("\x93NUMPY\x01\x00", 8) + le16(static_cast<unsigned>(header.size()));
  out += header;
  out += f32_bytes({0, 1, 2, 3, 4, 5});
  return out;
}

bool bytes_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  const std::size_t n = ca.numel() * ca.element_size();
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

at::Tensor sample(at::ScalarType t, at::IntArrayRef shape) {
  at::manual_seed(1234);
  switch (t) {
    case at::kFloat:
    case at::kDouble:
    case at::kHalf: return at::randn(shape, at::TensorOptions().dtype(t));
    case at::kBool: return at::randint(0, 2, shape).to(at::kBool);
    case at::kByte: return at::randint(0, 256, shape).to(at::kByte);
    case at::kChar: return at::randint(-128, 128, shape).to(at::kChar);
    default:
      return at::randint(-1000000, 1000000, shape, at::TensorOptions().dtype(at::kLong)).to(t);
  }
}

const std::vector<std::pair<at::ScalarType, const char*>> kAllTypes = {
    {at::kFloat, "<f4"}, {at::kDouble, "<f8"}, {at::kHalf, "<f2"},
    {at::kLong, "<i8"},  {at::kInt, "<i4"},    {at::kShort, "<i2"},
    {at::kChar, "|i1"},  {at::kByte, "|u1"},   {at::kBool, "|b1"}};

void expect_error_mentions(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected rflow::Error mentioning '" << needle << "'";
  } catch (const rflow::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nshould mention: " << needle;
  }
}

std::vector<std::string> tmp_leftovers(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

// Runs /usr/bin/python3 on a script file and returns its stdout; rc receives the exit status.
std::string run_python(const std::string& script_path, const std::string& args, int* rc) {
  const std::string cmd = "/usr/bin/python3 " + script_path + " " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

std::string hex(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const auto* p = static_cast<const unsigned char*>(c.data_ptr());
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::int64_t i = 0; i < c.numel() * static_cast<std::int64_t>(c.element_size()); ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Golden layout

TEST(Npy, ReadsGoldenNumpyBytes) {
  TempDir dir;
  const std::string path = dir.file("golden.npy");
  const std::string golden = golden_arange_npy();
  ASSERT_EQ(golden.size(), 128u + 24u);
  write_text(path, golden);
  const at::Tensor t = rflow::io::read_npy(path);
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_EQ(t.sizes(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(at::equal(t, at::arange(6, at::kFloat).reshape({2, 3})));
}

TEST(Npy, WriterIsByteIdenticalToNumpy) {
  TempDir dir;
  const std::string path = dir.file("ours.npy");
  rflow::io::write_npy(path, at::arange(6, at::kFloat).reshape({2, 3}));
  const std::string ours = read_text(path);
  const std::string golden = golden_arange_npy();
  EXPECT_EQ(ours.size(), golden.size());
  EXPECT_TRUE(ours == golden) << "writer output differs from numpy's layout";
}

TEST(Npy, WriterAlignsDataTo64AndEndsHeaderWithNewline) {
  TempDir dir;
  for (const auto& shape : std::vector<std::vector<std::int64_t>>{
           {}, {7}, {123456789, 0}, {1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}}) {
    const std::string path = dir.file("a.npy");
    rflow::io::write_npy(path, at::zeros(shape, at::kDouble));
    const std::string bytes = read_text(path);
    ASSERT_GE(bytes.size(), 10u);
    const std::size_t hlen = static_cast<unsigned char>(bytes[8]) |
                             (static_cast<unsigned char>(bytes[9]) << 8);
    EXPECT_EQ((10 + hlen) % 64, 0u);
    EXPECT_EQ(bytes[10 + hlen - 1], '\n');
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  }
}

TEST(Npy, ToleratesOtherValidHeaderSpellings) {
  TempDir dir;
  const std::string path = dir.file("t.npy");
  // Double quotes, no spaces, no trailing comma, keys in another order, 16-byte alignment
  // (what numpy < 1.9 wrote), and Python 2 long suffixes.
  write_text(path, npy_file("{\"shape\":(2L,3L),\"fortran_order\":False,\"descr\":\"<f4\"}",
                            f32_bytes({0, 1, 2, 3, 4, 5}), 1, 16));
  EXPECT_TRUE(at::equal(rflow::io::read_npy(path), at::arange(6, at::kFloat).reshape({2, 3})));
  // Native byte order marker and a one-element tuple.
  write_text(path, npy_file("{'descr': '=f4', 'fortran_order': False, 'shape': (3,), }",
                            f32_bytes({1, 2, 3})));
  EXPECT_TRUE(at::equal(rflow::io::read_npy(path), at::arange(1, 4, at::kFloat)));
  // Fortran order on a 1-D array is the same bytes as C order.
  write_text(path, npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }",
                            f32_bytes({1, 2, 3})));
  EXPECT_TRUE(at::equal(rflow::io::read_npy(path), at::arange(1, 4, at::kFloat)));
}

TEST(Npy, ReadsVersion2And3Headers) {
  TempDir dir;
  const std::string path = dir.file("v.npy");
  for (int major : {2, 3}) {
    write_text(path, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                              f32_bytes({0, 1, 2, 3, 4, 5}), major));
    EXPECT_TRUE(at::equal(rflow::io::read_npy(path), at::arange(6, at::kFloat).reshape({2, 3})))
        << "version " << major;
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(Npy, RoundTripsEveryDtypeBitExact) {
  TempDir dir;
  const std::vector<std::vector<std::int64_t>> shapes = {{}, {0}, {4, 0, 2}, {3, 4, 5}, {1}};
  for (const auto& [t, descr] : kAllTypes) {
    for (const auto& shape : shapes) {
      const at::Tensor x = sample(t, shape);
      const std::string path = dir.file("x.npy");
      rflow::io::write_npy(path, x);
      const at::Tensor y = rflow::io::read_npy(path);
      EXPECT_TRUE(bytes_equal(x, y)) << c10::toString(t) << " shape " << x.sizes();
      EXPECT_EQ(y.dim(), static_cast<std::int64_t>(shape.size()));
      EXPECT_TRUE(y.is_contiguous());
      EXPECT_EQ(y.device().type(), at::kCPU);
    }
  }
}

TEST(Npy, RoundTripKeepsSpecialFloatBits) {
  TempDir dir;
  const std::string path = dir.file("s.npy");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const at::Tensor x = at::tensor({-0.0f, nan, inf, -inf, 1e-45f, 3.4e38f});
  rflow::io::write_npy(path, x);
  EXPECT_TRUE(bytes_equal(x, rflow::io::read_npy(path)));
}

TEST(Npy, WritesNonContiguousInputInLogicalOrder) {
  TempDir dir;
  const std::string path = dir.file("t.npy");
  const at::Tensor x = at::arange(12, at::kInt).reshape({3, 4}).t();  // [4, 3], strided
  ASSERT_FALSE(x.is_contiguous());
  rflow::io::write_npy(path, x);
  EXPECT_TRUE(at::equal(rflow::io::read_npy(path), x.contiguous()));
}

TEST(Npy, ScalarBecomesZeroDimTensor) {
  TempDir dir;
  const std::string path = dir.file("s.npy");
  write_text(path, npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (), }",
                            std::string("\x2a\0\0\0\0\0\0\0", 8)));
  const at::Tensor t = rflow::io::read_npy(path);
  EXPECT_EQ(t.dim(), 0);
  EXPECT_EQ(t.item<std::int64_t>(), 42);
}

TEST(Npy, UnsupportedDtypeFailsWithoutWritingAFile) {
  TempDir dir;
  const std::string path = dir.file("bf.npy");
  EXPECT_THROW(rflow::io::write_npy(path, at::zeros({2}, at::kBFloat16)), rflow::Error);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(Npy, FailedWriteLeavesNoTempFiles) {
  TempDir dir;
  write_text(dir.file("plain"), "x");
  EXPECT_THROW(rflow::io::write_npy(dir.file("plain") + "/a.npy", at::zeros({2})), rflow::Error);
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
  EXPECT_EQ(read_text(dir.file("plain")), "x");
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken files

class NpyHostile : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    const std::string p = dir_.file("h.npy");
    write_text(p, bytes);
    return p;
  }
  static std::string dict(const std::string& descr, const std::string& fortran,
                          const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape +
           ", }";
  }
  TempDir dir_;
};

TEST_F(NpyHostile, TruncatedDataNamesSizesAndPath) {
  const std::string g = golden_arange_npy();
  const std::string p = write(g.substr(0, g.size() - 4));
  expect_error_mentions([&] { rflow::io::read_npy(p); },
                        "truncated: expected 24 bytes of data, file has 20");
  expect_error_mentions([&] { rflow::io::read_npy(p); }, p);
}

TEST_F(NpyHostile, ExtraTrailingBytes) {
  const std::string p = write(golden_arange_npy() + "junk");
  EXPECT_THROW(rflow::io::read_npy(p), rflow::Error);
}

TEST_F(NpyHostile, HeaderLengthPastEndOfFile) {
  std::string g = golden_arange_npy();
  g[8] = '\xff';
  g[9] = '\x7f';
  EXPECT_THROW(rflow::io::read_npy(write(g)), rflow::Error);
  // Version 2 with a 4 GiB header length.
  std::string v2 = npy_file(dict("<f4", "False", "(1,)"), f32_bytes({1}), 2);
  v2.replace(8, 4, std::string("\xff\xff\xff\xff", 4));
  EXPECT_THROW(rflow::io::read_npy(write(v2)), rflow::Error);
}

TEST_F(NpyHostile, HugeShapeThrowsInsteadOfAllocating) {
  expect_error_mentions(
      [&] {
        rflow::io::read_npy(write(npy_file(dict("<f4", "False", "(1000000000000, 1000000000000)"),
                                           f32_bytes({1}))));
      },
      "shape");
  // Fits in 64 bits but the file does not hold 8 TB: must be caught by the size check.
  EXPECT_THROW(rflow::io::read_npy(
                   write(npy_file(dict("<f8", "False", "(1000000, 1000000)"), f32_bytes({1})))),
               rflow::Error);
  // A dimension that does not even fit in int64.
  EXPECT_THROW(rflow::io::read_npy(write(npy_file(dict("<f4", "False", "(99999999999999999999,)"),
                                                  f32_bytes({1})))),
               rflow::Error);
}

TEST_F(NpyHostile, NegativeShape) {
  EXPECT_THROW(
      rflow::io::read_npy(write(npy_file(dict("<f4", "False", "(-1, 3)"), f32_bytes({1})))),
      rflow::Error);
}

TEST_F(NpyHostile, BigEndianIsRejectedWithAFix) {
  const std::string p =
      write(npy_file(dict(">f4", "False", "(2, 3)"), f32_bytes({0, 1, 2, 3, 4, 5})));
  expect_error_mentions([&] { rflow::io::read_npy(p); }, "big-endian");
  expect_error_mentions([&] { rflow::io::read_npy(p); }, "newbyteorder");
}

TEST_F(NpyHostile, FortranOrderIsRejectedWithAFix) {
  const std::string p =
      write(npy_file(dict("<f4", "True", "(2, 3)"), f32_bytes({0, 1, 2, 3, 4, 5})));
  expect_error_mentions([&] { rflow::io::read_npy(p); }, "ascontiguousarray");
  expect_error_mentions([&] { rflow::io::read_npy(p); }, "fortran_order");
}

TEST_F(NpyHostile, BadMagicAndVersion) {
  std::string g = golden_arange_npy();
  g[1] = 'X';
  EXPECT_THROW(rflow::io::read_npy(write(g)), rflow::Error);
  g = golden_arange_npy();
  g[6] = 4;
  EXPECT_THROW(rflow::io::read_npy(write(g)), rflow::Error);
  EXPECT_THROW(rflow::io::read_npy(write("")), rflow::Error);
  EXPECT_THROW(rflow::io::read_npy(write("\x93NUMPY")), rflow::Error);
  EXPECT_THROW(rflow::io::read_npy(write("PK\x03\x04 this is an npz")), rflow::Error);
}

TEST_F(NpyHostile, UnsupportedDtypes) {
  for (const char* d : {"<c8", "<u4", "<U5", "|O", "|f4", "<f16", "f4", "<M8[ns]"}) {
    EXPECT_THROW(
        rflow::io::read_npy(write(npy_file(dict(d, "False", "(1,)"), std::string(16, '\0')))),
        rflow::Error)
        << d;
  }
  EXPECT_THROW(rflow::io::read_npy(write(npy_file(
                   "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                   std::string(4, '\0')))),
               rflow::Error);
}

TEST_F(NpyHostile, MalformedHeaderDicts) {
  const std::string four = f32_bytes({1});
  for (const std::string& d : {
           std::string("{'descr': '<f4', 'shape': (1,), }"),                           // missing
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"),  // extra
           std::string("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing"),
           std::string("{'descr': '<f4', 'fortran_order': false, 'shape': (1,), }"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': [1], }"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,), }"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1,,), }"),
           std::string("{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)"),
           std::string("not a dict"),
       }) {
    EXPECT_THROW(rflow::io::read_npy(write(npy_file(d, four))), rflow::Error) << d;
  }
}

TEST_F(NpyHostile, BoolBytesMustBeZeroOrOne) {
  EXPECT_THROW(rflow::io::read_npy(write(npy_file(dict("|b1", "False", "(2,)"), "\x01\x02"))),
               rflow::Error);
}

TEST_F(NpyHostile, MissingFileAndDirectory) {
  expect_error_mentions([&] { rflow::io::read_npy(dir_.file("nope.npy")); }, "nope.npy");
  EXPECT_THROW(rflow::io::read_npy(dir_.path().string()), rflow::Error);
}

// ---------------------------------------------------------------------------------------------
// read_npy_matrix

TEST(NpyMatrix, AcceptsFloat64AndReturnsFloat32) {
  TempDir dir;
  const std::string path = dir.file("m.npy");
  const at::Tensor x = at::randn({5, 3}, at::kDouble);
  rflow::io::write_npy(path, x);
  const at::Tensor m = rflow::io::read_npy_matrix(path);
  EXPECT_EQ(m.scalar_type(), at::kFloat);
  EXPECT_EQ(m.sizes(), x.sizes());
  EXPECT_TRUE(at::equal(m, x.to(at::kFloat)));
}

TEST(NpyMatrix, RejectsNonFiniteRowsNamingTheFirst) {
  TempDir dir;
  const std::string path = dir.file("m.npy");
  at::Tensor x = at::zeros({6, 2});
  x[4][0] = std::numeric_limits<float>::infinity();
  x[2][1] = std::numeric_limits<float>::quiet_NaN();
  rflow::io::write_npy(path, x);
  expect_error_mentions([&] { rflow::io::read_npy_matrix(path); }, "row 2");
  expect_error_mentions([&] { rflow::io::read_npy_matrix(path); }, "NaN");
  expect_error_mentions([&] { rflow::io::read_npy_matrix(path); }, path);

  at::Tensor y = at::zeros({3, 2}, at::kDouble);
  y[1][1] = -std::numeric_limits<double>::infinity();
  rflow::io::write_npy(path, y);
  expect_error_mentions([&] { rflow::io::read_npy_matrix(path); }, "row 1");

  at::Tensor z = at::zeros({3, 2}, at::kDouble);
  z[2][0] = 1e300;  // finite in float64, overflows float32
  rflow::io::write_npy(path, z);
  expect_error_mentions([&] { rflow::io::read_npy_matrix(path); }, "row 2");
}

TEST(NpyMatrix, RejectsWrongShapesAndTypes) {
  TempDir dir;
  const std::string path = dir.file("m.npy");
  rflow::io::write_npy(path, at::zeros({0, 3}));
  EXPECT_THROW(rflow::io::read_npy_matrix(path), rflow::Error);
  rflow::io::write_npy(path, at::zeros({4, 0}));
  EXPECT_THROW(rflow::io::read_npy_matrix(path), rflow::Error);
  rflow::io::write_npy(path, at::zeros({4}));
  EXPECT_THROW(rflow::io::read_npy_matrix(path), rflow::Error);
  rflow::io::write_npy(path, at::zeros({2, 2, 2}));
  EXPECT_THROW(rflow::io::read_npy_matrix(path), rflow::Error);
  rflow::io::write_npy(path, at::zeros({4, 2}, at::kLong));
  EXPECT_THROW(rflow::io::read_npy_matrix(path), rflow::Error);
  rflow::io::write_npy(path, at::zeros({4, 2}, at::kHalf));
  EXPECT_THROW(rflow::io::read_npy_matrix(path), rflow::Error);
}

// read_npy_samples: the one loader behind every CLI input of samples (eval, likelihood, --x0, fidnet).
TEST(NpySamples, PointsAreCheckedAgainstTheModelsDimension) {
  TempDir dir;
  const std::string path = dir.file("s.npy");
  rflow::io::write_npy(path, at::randn({5, 3}, at::kDouble));
  EXPECT_EQ(rflow::io::read_npy_samples(path, {3}).scalar_type(), at::kFloat);
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {2}); }, "3 dimensions, the model 2");
  rflow::io::write_npy(path, at::zeros({4}));  // 1-D: not points
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {2}); }, "2-D array");
  rflow::io::write_npy(path, at::zeros({0, 2}));
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {2}); }, "no rows");
  rflow::io::write_npy(path, at::zeros({4, 2}, at::kChar));  // int8 points are refused, as in training
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {2}); }, "float32 or float64");
  at::Tensor nan = at::zeros({3, 2});
  nan[1][0] = std::numeric_limits<float>::quiet_NaN();
  rflow::io::write_npy(path, nan);
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {2}); }, "row 1");
}

TEST(NpySamples, ImagesTakeUint8OrFloatAndOneChannelWithoutTheAxis) {
  TempDir dir;
  const std::string path = dir.file("i.npy");
  at::Tensor u8 = at::full({2, 4, 4}, 255, at::kByte);
  u8[1].fill_(0);
  rflow::io::write_npy(path, u8);
  const at::Tensor x = rflow::io::read_npy_samples(path, {1, 4, 4});
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  EXPECT_FLOAT_EQ(x[0].max().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(x[1].min().item<float>(), -1.0f);
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {1, 8, 8}); }, "the model makes");
  rflow::io::write_npy(path, at::zeros({2, 1, 4, 4}, at::kInt));
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {1, 4, 4}); }, "uint8");
  at::Tensor f = at::zeros({3, 1, 4, 4});
  f[2][0][1][1] = std::numeric_limits<float>::infinity();
  rflow::io::write_npy(path, f);
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {1, 4, 4}); }, "image 2");
  rflow::io::write_npy(path, at::zeros({2, 4}));
  expect_error_mentions([&] { rflow::io::read_npy_samples(path, {1, 4, 4}); }, "expected images");
}

// ---------------------------------------------------------------------------------------------
// Interop with numpy itself

TEST(NpyPython, NumpyReadsWhatWeWrite) {
  RFLOW_TEST_REQUIRES(rflow::test::have_python_numpy(), "python3 with numpy not available");
  TempDir dir;
  struct Case {
    std::string path, descr;
    at::Tensor x;
  };
  std::vector<Case> cases;
  for (const auto& [t, descr] : kAllTypes)
    for (const auto& shape : std::vector<std::vector<std::int64_t>>{{}, {2, 0}, {2, 3, 4}})
      cases.push_back({dir.file("c" + std::to_string(cases.size()) + ".npy"), descr,
                       sample(t, shape)});
  std::string args;
  for (const auto& [p, descr, x] : cases) {
    rflow::io::write_npy(p, x);
    args += " " + p;
  }
  const std::string script = dir.file("check.py");
  write_text(script,
             "import sys, numpy as np\n"
             "for p in sys.argv[1:]:\n"
             "    a = np.load(p, allow_pickle=False)\n"
             "    assert a.flags['C_CONTIGUOUS']\n"
             "    print(a.dtype.str, list(a.shape), a.tobytes().hex())\n");
  int rc = 0;
  const std::string out = run_python(script, args, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::istringstream lines(out);
  for (const auto& [p, descr, x] : cases) {
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << out;
    std::string shape;
    for (std::int64_t k = 0; k < x.dim(); ++k) shape += (k ? ", " : "") + std::to_string(x.size(k));
    EXPECT_EQ(line, descr + " [" + shape + "] " + hex(x)) << p;
  }
}

TEST(NpyPython, WeReadWhatNumpyWritesAndMatchItsBytes) {
  RFLOW_TEST_REQUIRES(rflow::test::have_python_numpy(), "python3 with numpy not available");
  TempDir dir;
  const std::string script = dir.file("make.py");
  write_text(script,
             "import sys, os, numpy as np\n"
             "d = sys.argv[1]\n"
             "np.save(os.path.join(d, 'f4.npy'), np.arange(24, dtype='<f4').reshape(2, 3, 4) / 7)\n"
             "np.save(os.path.join(d, 'f8.npy'), np.arange(5, dtype='<f8') - 2.5)\n"
             "np.save(os.path.join(d, 'f2.npy'), np.arange(6, dtype='<f2').reshape(3, 2))\n"
             "np.save(os.path.join(d, 'i8.npy'), np.arange(6, dtype='<i8') * -3)\n"
             "np.save(os.path.join(d, 'i4.npy'), np.arange(6, dtype='<i4') * -3)\n"
             "np.save(os.path.join(d, 'i2.npy'), np.arange(6, dtype='<i2') * -3)\n"
             "np.save(os.path.join(d, 'i1.npy'), np.arange(6, dtype='i1') * -3)\n"
             "np.save(os.path.join(d, 'u1.npy'), np.arange(6, dtype='u1') * 3)\n"
             "np.save(os.path.join(d, 'b1.npy'), np.arange(6) % 2 == 0)\n"
             "np.save(os.path.join(d, 'scalar.npy'), np.float64(2.5))\n"
             "np.save(os.path.join(d, 'empty.npy'), np.zeros((3, 0), dtype='<f4'))\n"
             "np.save(os.path.join(d, 'big.npy'), np.ones((123456789, 0), dtype='<f4'))\n"
             "np.save(os.path.join(d, 'pts.npy'), np.arange(8, dtype='<f8').reshape(4, 2))\n"
             "print('growth' if hasattr(np.lib.format, 'GROWTH_AXIS_MAX_DIGITS') else 'old')\n");
  int rc = 0;
  const std::string out = run_python(script, dir.path().string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  const bool numpy_has_growth_padding = out.find("growth") != std::string::npos;

  auto load = [&](const char* name) { return rflow::io::read_npy(dir.file(name)); };
  const auto f4 = at::TensorOptions().dtype(at::kFloat);
  EXPECT_TRUE(at::equal(load("f4.npy"), at::arange(24, f4).div(7).reshape({2, 3, 4})));
  EXPECT_TRUE(at::equal(load("f8.npy"), at::arange(5, at::kDouble) - 2.5));
  EXPECT_TRUE(at::equal(load("f2.npy"), at::arange(6, at::kHalf).reshape({3, 2})));
  EXPECT_TRUE(at::equal(load("i8.npy"), at::arange(6, at::kLong) * -3));
  EXPECT_TRUE(at::equal(load("i4.npy"), at::arange(6, at::kInt) * -3));
  EXPECT_TRUE(at::equal(load("i2.npy"), at::arange(6, at::kShort) * -3));
  EXPECT_TRUE(at::equal(load("i1.npy"), at::arange(6, at::kChar) * -3));
  EXPECT_TRUE(at::equal(load("u1.npy"), at::arange(6, at::kByte) * 3));
  EXPECT_TRUE(at::equal(load("b1.npy"), at::arange(6, at::kLong).remainder(2).eq(0)));
  const at::Tensor s = load("scalar.npy");
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 2.5);
  EXPECT_EQ(load("empty.npy").sizes(), (std::vector<std::int64_t>{3, 0}));
  EXPECT_EQ(load("big.npy").sizes(), (std::vector<std::int64_t>{123456789, 0}));
  EXPECT_TRUE(at::equal(rflow::io::read_npy_matrix(dir.file("pts.npy")),
                        at::arange(8, f4).reshape({4, 2})));

  // Writing the same tensors back must reproduce np.save's bytes exactly. numpy before 1.23
  // padded without the growth room, which only changes files whose header crosses a 64-byte
  // boundary; compare those only against a numpy that pads the way we do.
  for (const char* name : {"f4.npy", "f8.npy", "f2.npy", "i8.npy", "i1.npy", "u1.npy", "b1.npy",
                           "scalar.npy", "empty.npy", "big.npy"}) {
    const std::string ours = dir.file(std::string("ours_") + name);
    rflow::io::write_npy(ours, load(name));
    if (numpy_has_growth_padding || std::string(name) == "f4.npy") {
      EXPECT_TRUE(read_text(ours) == read_text(dir.file(name))) << name;
    }
  }
}

}  // namespace

// Rows written a block at a time make the same bytes as one write_npy; a writer dropped before
// finish() leaves the previous file and no temporary; rows that do not continue the array are refused.
TEST(NpyRowWriter, BlocksOfRowsMakeTheSameFileAsOneWrite) {
  rflow::test::TempDir dir;
  const at::Tensor t = at::randn({10, 3, 2});
  rflow::io::write_npy(dir.file("whole.npy"), t);
  {
    rflow::io::NpyRowWriter w(dir.file("rows.npy"), at::kFloat, {10, 3, 2});
    w.append(t.narrow(0, 0, 4));
    w.append(t.narrow(0, 4, 5).to(at::kDouble));  // converted to the writer's dtype
    EXPECT_THROW(w.finish(), rflow::Error);          // 9 of 10 rows
    w.append(t.narrow(0, 9, 1));
    EXPECT_THROW(w.append(t.narrow(0, 0, 1)), rflow::Error);  // an 11th row
    w.finish();
  }
  EXPECT_EQ(rflow::test::read_text(dir.file("rows.npy")), rflow::test::read_text(dir.file("whole.npy")));
  {
    rflow::io::NpyRowWriter w(dir.file("whole.npy"), at::kFloat, {10, 3, 2});
    w.append(at::zeros({2, 3, 2}));
    EXPECT_THROW(w.append(at::zeros({2, 2, 3})), rflow::Error);  // another row shape
  }  // dropped unfinished
  EXPECT_EQ(rflow::test::read_text(dir.file("rows.npy")), rflow::test::read_text(dir.file("whole.npy")));
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}
