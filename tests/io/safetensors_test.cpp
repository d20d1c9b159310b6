#include "rflow/io/safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "rflow/core/error.h"
#include "tests/test_util.h"

namespace {

using rflow::io::NamedTensors;
using rflow::test::TempDir;
using rflow::test::read_text;
using rflow::test::write_text;

std::string le64(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

// Header length, header text exactly as given (no padding), then data.
std::string st_raw(const std::string& json, const std::string& data) {
  return le64(json.size()) + json + data;
}

template <typename T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A two-tensor file written out by hand the way the reference implementation lays it out:
// compact JSON (142 bytes) padded with 2 spaces to 144 = 0x90 so the data starts 8-byte aligned,
// then w = [[0, 1], [2, 3]] as float32 and b = [-1, 0, 7] as int8.
std::string golden_safetensors() {
  const std::string json =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[16,19]}}";
  return std::string("\x90\0\0\0\0\0\0\0", 8) + json + "  " +
         raw_bytes(std::vector<float>{0, 1, 2, 3}) + std::string("\xff\x00\x07", 3);
}

bool bytes_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  const std::size_t n = ca.numel() * ca.element_size();
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

at::Tensor sample(at::ScalarType t, at::IntArrayRef shape) {
  at::manual_seed(99);
  switch (t) {
    case at::kFloat:
    case at::kDouble:
    case at::kHalf:
    case at::kBFloat16: return at::randn(shape, at::TensorOptions().dtype(t));
    case at::kBool: return at::randint(0, 2, shape).to(at::kBool);
    case at::kByte: return at::randint(0, 256, shape).to(at::kByte);
    case at::kChar: return at::randint(-128, 128, shape).to(at::kChar);
    default:
      return at::randint(-1000000, 1000000, shape, at::TensorOptions().dtype(at::kLong)).to(t);
  }
}

const std::vector<std::pair<at::ScalarType, const char*>> kAllTypes = {
    {at::kFloat, "F32"}, {at::kDouble, "F64"}, {at::kHalf, "F16"}, {at::kBFloat16, "BF16"},
    {at::kLong, "I64"},  {at::kInt, "I32"},    {at::kShort, "I16"}, {at::kChar, "I8"},
    {at::kByte, "U8"},   {at::kBool, "BOOL"}};

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

TEST(Safetensors, ReadsGoldenBytes) {
  TempDir dir;
  const std::string path = dir.file("g.safetensors");
  write_text(path, golden_safetensors());
  const auto data = rflow::io::load_safetensors(path);
  ASSERT_EQ(data.tensors.size(), 2u);
  EXPECT_EQ(data.tensors[0].first, "w");
  EXPECT_EQ(data.tensors[1].first, "b");
  EXPECT_TRUE(at::equal(data.tensors[0].second, at::arange(4, at::kFloat).reshape({2, 2})));
  EXPECT_TRUE(at::equal(data.tensors[1].second,
                        at::tensor(std::vector<std::int8_t>{-1, 0, 7}, at::kChar)));
  EXPECT_EQ(data.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_TRUE(at::equal(rflow::io::find_tensor(data, "b"), data.tensors[1].second));
}

TEST(Safetensors, WriterProducesTheGoldenBytes) {
  TempDir dir;
  const std::string path = dir.file("o.safetensors");
  rflow::io::save_safetensors(
      path,
      {{"w", at::arange(4, at::kFloat).reshape({2, 2})},
       {"b", at::tensor(std::vector<std::int8_t>{-1, 0, 7}, at::kChar)}},
      {{"format", "pt"}});
  EXPECT_TRUE(read_text(path) == golden_safetensors());
}

TEST(Safetensors, ReturnsTensorsInDataOffsetOrder) {
  TempDir dir;
  const std::string path = dir.file("o.safetensors");
  // JSON lists "late" first, but its bytes come second.
  write_text(path, st_raw("{\"late\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
                          " \"early\" : {\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                          "\x01\x02\x03"));
  const auto data = rflow::io::load_safetensors(path);
  ASSERT_EQ(data.tensors.size(), 2u);
  EXPECT_EQ(data.tensors[0].first, "early");
  EXPECT_EQ(data.tensors[1].first, "late");
  EXPECT_EQ(data.tensors[1].second.item<std::uint8_t>(), 3);
  EXPECT_TRUE(data.metadata.empty());
}

TEST(Safetensors, HeaderIsPaddedToMultipleOf8) {
  TempDir dir;
  const std::string path = dir.file("p.safetensors");
  for (int len = 1; len <= 9; ++len) {
    rflow::io::save_safetensors(path, {{std::string(len, 'x'), at::zeros({1})}});
    const std::string bytes = read_text(path);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    EXPECT_EQ((8 + n) % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + n + 4);
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(Safetensors, RoundTripsEveryDtypeAndShapeBitExact) {
  TempDir dir;
  NamedTensors in;
  const std::vector<std::vector<std::int64_t>> shapes = {{}, {0}, {3, 0, 2}, {2, 3, 4}};
  for (const auto& [t, name] : kAllTypes)
    for (std::size_t s = 0; s < shapes.size(); ++s)
      in.emplace_back(std::string(name) + "/" + std::to_string(s), sample(t, shapes[s]));
  const std::map<std::string, std::string> meta = {{"step", "100"}, {"note", "ünïcode \"q\""}};
  const std::string path = dir.file("all.safetensors");
  rflow::io::save_safetensors(path, in, meta);
  const auto out = rflow::io::load_safetensors(path);
  EXPECT_EQ(out.metadata, meta);
  ASSERT_EQ(out.tensors.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    // Written in the given order, so the file's offset order is the input order.
    EXPECT_EQ(out.tensors[i].first, in[i].first);
    EXPECT_TRUE(bytes_equal(out.tensors[i].second, in[i].second)) << in[i].first;
    EXPECT_TRUE(out.tensors[i].second.is_contiguous());
  }
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(Safetensors, NonContiguousInputIsSavedInLogicalOrder) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  const at::Tensor x = at::arange(12, at::kFloat).reshape({3, 4}).t();
  rflow::io::save_safetensors(path, {{"x", x}, {"slice", x.select(1, 1)}});
  const auto out = rflow::io::load_safetensors(path);
  EXPECT_TRUE(at::equal(rflow::io::find_tensor(out, "x"), x.contiguous()));
  EXPECT_TRUE(at::equal(rflow::io::find_tensor(out, "slice"), x.select(1, 1).contiguous()));
}

TEST(Safetensors, LoadedTensorsOwnTheirMemory) {
  TempDir dir;
  const std::string path = dir.file("own.safetensors");
  rflow::io::save_safetensors(path, {{"a", at::ones({4})}, {"b", at::ones({4})}});
  auto out = rflow::io::load_safetensors(path);
  std::filesystem::remove(path);
  out.tensors[0].second.add_(1);
  EXPECT_TRUE(at::equal(out.tensors[0].second, at::full({4}, 2.0f)));
  EXPECT_TRUE(at::equal(out.tensors[1].second, at::ones({4})));
}

TEST(Safetensors, WriterRejectsBadInputWithoutWritingAFile) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  expect_error_mentions(
      [&] { rflow::io::save_safetensors(path, {{"a", at::ones({1})}, {"a", at::ones({2})}}); },
      "duplicate");
  EXPECT_THROW(rflow::io::save_safetensors(path, {{"__metadata__", at::ones({1})}}), rflow::Error);
  EXPECT_THROW(rflow::io::save_safetensors(path, {{"", at::ones({1})}}), rflow::Error);
  expect_error_mentions(
      [&] { rflow::io::save_safetensors(path, {{"z", at::ones({2}, at::kComplexFloat)}}); }, "z");
  EXPECT_THROW(rflow::io::save_safetensors(path, {{"u", at::Tensor()}}), rflow::Error);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(tmp_leftovers(dir.path()).empty());
}

TEST(Safetensors, FindTensorListsAvailableNames) {
  TempDir dir;
  const std::string path = dir.file("f.safetensors");
  rflow::io::save_safetensors(path, {{"alpha", at::ones({1})}, {"beta", at::ones({1})}});
  const auto data = rflow::io::load_safetensors(path);
  expect_error_mentions([&] { rflow::io::find_tensor(data, "gamma"); }, "alpha, beta");
  expect_error_mentions([&] { rflow::io::find_tensor(data, "gamma"); }, "gamma");
  expect_error_mentions([&] { rflow::io::find_tensor(data, "gamma"); }, path);
}

TEST(Safetensors, EmptyTensorListRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("e.safetensors");
  rflow::io::save_safetensors(path, {}, {{"k", "v"}});
  const auto data = rflow::io::load_safetensors(path);
  EXPECT_TRUE(data.tensors.empty());
  EXPECT_EQ(data.metadata.at("k"), "v");
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken files

class SafetensorsHostile : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    const std::string p = dir_.file("h.safetensors");
    write_text(p, bytes);
    return p;
  }
  // One tensor "t" with the given fields, plus data.
  std::string one(const std::string& dtype, const std::string& shape, const std::string& offsets,
                  const std::string& data) {
    return write(st_raw("{\"t\":{\"dtype\":" + dtype + ",\"shape\":" + shape +
                            ",\"data_offsets\":" + offsets + "}}",
                        data));
  }
  void expect_bad(const std::string& p) {
    EXPECT_THROW(rflow::io::load_safetensors(p), rflow::Error) << read_text(p).substr(8);
  }
  TempDir dir_;
};

TEST_F(SafetensorsHostile, TooShortForHeaderLength) {
  expect_bad(write(""));
  expect_bad(write("\x10\0\0"));
}

TEST_F(SafetensorsHostile, HeaderLengthPastEndOfFile) {
  std::string g = golden_safetensors();
  g.replace(0, 8, le64(g.size()));
  const std::string p = write(g);
  expect_error_mentions([&] { rflow::io::load_safetensors(p); }, p);
  expect_bad(write(le64(~0ull) + "{}"));
}

TEST_F(SafetensorsHostile, HeaderOver100MB) {
  // A sparse file, so the length check must fire on the claim itself, not on reading 100 MB.
  const std::string p = dir_.file("huge.safetensors");
  write_text(p, le64(100'000'001) + "{");
  std::filesystem::resize_file(p, 8 + 100'000'001 + 16);
  expect_error_mentions([&] { rflow::io::load_safetensors(p); }, "100 MB");
}

TEST_F(SafetensorsHostile, HeaderNotJsonOrNotAnObject) {
  expect_bad(write(st_raw("{\"t\":", "")));
  expect_bad(write(st_raw("[1, 2, 3]", "")));
  expect_bad(write(st_raw("\"str\"", "")));
  expect_bad(write(st_raw("{\"t\": 5}", "")));
  expect_bad(write(st_raw("{\"__metadata__\": [1]}", "")));
  expect_bad(write(st_raw("{\"__metadata__\": {\"k\": 1}}", "")));
  expect_bad(write(st_raw(std::string(100000, '[') + std::string(100000, ']'), "")));
}

TEST_F(SafetensorsHostile, UnknownDtypeNamesTheTensor) {
  const std::string p = one("\"C64\"", "[1]", "[0,8]", std::string(8, '\0'));
  expect_error_mentions([&] { rflow::io::load_safetensors(p); }, "'t'");
  expect_error_mentions([&] { rflow::io::load_safetensors(p); }, "C64");
  expect_bad(one("32", "[1]", "[0,4]", std::string(4, '\0')));
  expect_bad(write(st_raw("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(4, 0))));
}

TEST_F(SafetensorsHostile, BadShapes) {
  expect_bad(one("\"F32\"", "[-1]", "[0,4]", std::string(4, '\0')));
  expect_bad(one("\"F32\"", "[1.5]", "[0,4]", std::string(4, '\0')));
  expect_bad(one("\"F32\"", "\"1\"", "[0,4]", std::string(4, '\0')));
  expect_bad(one("\"F32\"", "[[1]]", "[0,4]", std::string(4, '\0')));
  // Overflows u64 when multiplied out.
  const std::string p = one("\"F32\"", "[1000000000000,1000000000000]", "[0,4]", std::string(4, 0));
  expect_error_mentions([&] { rflow::io::load_safetensors(p); }, "'t'");
  // Fits in u64 but the bytes are not there: must not allocate 4 TB.
  expect_bad(one("\"F32\"", "[1000000,1000000]", "[0,4]", std::string(4, '\0')));
  expect_bad(one("\"F32\"", "[18446744073709551615]", "[0,4]", std::string(4, '\0')));
}

TEST_F(SafetensorsHostile, BadOffsets) {
  // Past the end of the buffer.
  const std::string p = one("\"F32\"", "[2]", "[0,8]", std::string(4, '\0'));
  expect_error_mentions([&] { rflow::io::load_safetensors(p); }, "'t'");
  expect_bad(one("\"F32\"", "[1]", "[18446744073709551612,18446744073709551616]", ""));
  expect_bad(one("\"F32\"", "[1]", "[4,0]", std::string(4, '\0')));       // begin > end
  expect_bad(one("\"F32\"", "[1]", "[0,8]", std::string(8, '\0')));       // span != size
  expect_bad(one("\"F32\"", "[1]", "[0]", std::string(4, '\0')));         // one number
  expect_bad(one("\"F32\"", "[1]", "[0,4,8]", std::string(8, '\0')));     // three numbers
  expect_bad(one("\"F32\"", "[1]", "[-4,0]", std::string(4, '\0')));      // negative
  expect_bad(one("\"F32\"", "[1]", "[0,4]", std::string(8, '\0')));       // trailing bytes
  expect_bad(one("\"F32\"", "[1]", "[4,8]", std::string(8, '\0')));       // gap before
}

TEST_F(SafetensorsHostile, OverlappingTensors) {
  const std::string p = write(st_raw(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
      std::string(12, '\0')));
  expect_error_mentions([&] { rflow::io::load_safetensors(p); }, "overlap");
  expect_bad(write(st_raw("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                          "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                          std::string(4, '\0'))));
}

TEST_F(SafetensorsHostile, BoolBytesMustBeZeroOrOne) {
  expect_bad(one("\"BOOL\"", "[2]", "[0,2]", "\x01\x05"));
}

TEST_F(SafetensorsHostile, MissingFileOrDirectory) {
  expect_error_mentions([&] { rflow::io::load_safetensors(dir_.file("nope.safetensors")); },
                        "nope.safetensors");
  EXPECT_THROW(rflow::io::load_safetensors(dir_.path().string()), rflow::Error);
}

// ---------------------------------------------------------------------------------------------
// Interop with Python (numpy only; the python safetensors package is not assumed)

TEST(SafetensorsPython, PythonParsesWhatWeWrite) {
  RFLOW_TEST_REQUIRES(rflow::test::have_python_numpy(), "python3 with numpy not available");
  TempDir dir;
  NamedTensors in;
  for (const auto& [t, name] : kAllTypes) {
    in.emplace_back(std::string(name) + ".3d", sample(t, {2, 3, 2}));
    in.emplace_back(std::string(name) + ".0d", sample(t, {}));
    in.emplace_back(std::string(name) + ".empty", sample(t, {0, 5}));
  }
  const std::string path = dir.file("ours.safetensors");
  rflow::io::save_safetensors(path, in, {{"format", "pt"}, {"epoch", "3"}});

  const std::string script = dir.file("parse.py");
  write_text(script,
             "import sys, json, struct, numpy as np\n"
             "b = open(sys.argv[1], 'rb').read()\n"
             "n, = struct.unpack('<Q', b[:8])\n"
             "assert (8 + n) % 8 == 0 and n + 8 <= len(b)\n"
             "h = json.loads(b[8:8 + n].decode('utf-8'))\n"
             "print(json.dumps(h.pop('__metadata__', {}), sort_keys=True))\n"
             "dt = {'F32': '<f4', 'F64': '<f8', 'F16': '<f2', 'BF16': '<u2', 'I64': '<i8',\n"
             "      'I32': '<i4', 'I16': '<i2', 'I8': 'i1', 'U8': 'u1', 'BOOL': '?'}\n"
             "for name, info in sorted(h.items(), key=lambda kv: kv[1]['data_offsets']):\n"
             "    s, e = info['data_offsets']\n"
             "    a = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt[info['dtype']])\n"
             "    a = a.reshape(info['shape'])\n"
             "    print(name, info['dtype'], list(a.shape), a.tobytes().hex())\n");
  int rc = 0;
  const std::string out = run_python(script, path, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::istringstream lines(out);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(line, "{\"epoch\": \"3\", \"format\": \"pt\"}");
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& [name, x] = in[i];
    ASSERT_TRUE(std::getline(lines, line)) << out;
    std::string shape;
    for (std::int64_t k = 0; k < x.dim(); ++k) shape += (k ? ", " : "") + std::to_string(x.size(k));
    EXPECT_EQ(line, name + " " + kAllTypes[i / 3].second + " [" + shape + "] " + hex(x));
  }
}

TEST(SafetensorsPython, WeReadWhatPythonWrites) {
  RFLOW_TEST_REQUIRES(rflow::test::have_python_numpy(), "python3 with numpy not available");
  TempDir dir;
  const std::string path = dir.file("py.safetensors");
  const std::string script = dir.file("make.py");
  // Pretty-printed JSON with spaces, entries listed out of data order, 8-byte-padded header.
  write_text(script,
             "import sys, json, struct, numpy as np\n"
             "arrs = [('w', 'F32', (np.arange(6, dtype='<f4').reshape(2, 3) / 4)),\n"
             "        ('ids', 'I64', np.array([-1, 2**40, 7], dtype='<i8')),\n"
             "        ('mask', 'BOOL', np.array([True, False, True])),\n"
             "        ('bf', 'BF16', np.array([0x3f80, 0xc000], dtype='<u2')),\n"
             "        ('s', 'F64', np.array(2.5, dtype='<f8')),\n"
             "        ('e', 'F32', np.zeros((0, 3), dtype='<f4'))]\n"
             "h, data = {}, b''\n"
             "for name, dt, a in arrs:\n"
             "    h[name] = {'dtype': dt, 'shape': list(a.shape),\n"
             "               'data_offsets': [len(data), len(data) + a.nbytes]}\n"
             "    data += a.tobytes()\n"
             "h = dict(reversed(list(h.items())))\n"
             "h['__metadata__'] = {'source': 'python'}\n"
             "hb = json.dumps(h, indent=1).encode()\n"
             "hb += b' ' * ((8 - len(hb) % 8) % 8)\n"
             "open(sys.argv[1], 'wb').write(struct.pack('<Q', len(hb)) + hb + data)\n");
  int rc = 0;
  const std::string out = run_python(script, path, &rc);
  ASSERT_EQ(rc, 0) << out;

  const auto data = rflow::io::load_safetensors(path);
  EXPECT_EQ(data.metadata.at("source"), "python");
  std::vector<std::string> names;
  for (const auto& nt : data.tensors) names.push_back(nt.first);
  EXPECT_EQ(names, (std::vector<std::string>{"w", "ids", "mask", "bf", "s", "e"}));
  using rflow::io::find_tensor;
  EXPECT_TRUE(at::equal(find_tensor(data, "w"), at::arange(6, at::kFloat).reshape({2, 3}) / 4));
  EXPECT_TRUE(at::equal(find_tensor(data, "ids"),
                        at::tensor(std::vector<std::int64_t>{-1, 1ll << 40, 7}, at::kLong)));
  EXPECT_TRUE(at::equal(find_tensor(data, "mask"),
                        at::tensor(std::vector<std::int64_t>{1, 0, 1}).to(at::kBool)));
  EXPECT_TRUE(at::equal(find_tensor(data, "bf"),
                        at::tensor(std::vector<float>{1.0f, -2.0f}).to(at::kBFloat16)));
  EXPECT_EQ(find_tensor(data, "s").dim(), 0);
  EXPECT_EQ(find_tensor(data, "s").item<double>(), 2.5);
  EXPECT_EQ(find_tensor(data, "e").sizes(), (std::vector<std::int64_t>{0, 3}));
}

}  // namespace
