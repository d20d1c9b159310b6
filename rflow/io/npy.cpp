#include "rflow/io/npy.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rflow::io npy reader/writer copies little-endian bytes verbatim; big-endian hosts unsupported"
#endif

namespace fs = std::filesystem;

namespace rflow::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
// numpy refuses headers over 10000 bytes by default; allow more (long shapes are legal) but keep
// a bound so a corrupt length field cannot make us read gigabytes of "header".
constexpr std::uint64_t kMaxHeaderLen = 1u << 20;
constexpr std::size_t kArrayAlign = 64;
// numpy leaves room for axis 0 to grow to this many digits so headers can be rewritten in place;
// we copy it so our files are byte-identical to np.save's.
constexpr std::size_t kGrowthAxisMaxDigits = 21;

const char* kResaveHint = "re-save it from Python with np.save(path, np.ascontiguousarray(a))";

struct NpyDtype {
  at::ScalarType type;
  std::size_t itemsize;
};

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

std::string where_field(const std::string& path, const std::string& field) {
  return path + " (header field '" + field + "')";
}

// A recursive-descent parser for the one Python literal numpy writes: a dict with exactly the keys
// 'descr' (str), 'fortran_order' (bool) and 'shape' (tuple of ints). Python's own literal_eval
// would accept much more; we accept only what a valid header can contain, plus free whitespace and
// trailing commas.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (consume('}')) break;
      const std::string key = parse_string("dict key");
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        RF_CHECK(!have_descr, "duplicate key 'descr'", where_field(path_, key), kResaveHint);
        if (peek() == '[') fail_field(key, "structured (record) dtypes are not supported",
                                      "save each field as its own plain array");
        h.descr = parse_string("'descr' value");
        have_descr = true;
      } else if (key == "fortran_order") {
        RF_CHECK(!have_fortran, "duplicate key 'fortran_order'", where_field(path_, key),
                 kResaveHint);
        h.fortran_order = parse_bool(key);
        have_fortran = true;
      } else if (key == "shape") {
        RF_CHECK(!have_shape, "duplicate key 'shape'", where_field(path_, key), kResaveHint);
        h.shape = parse_shape();
        have_shape = true;
      } else {
        fail_field(key, "unexpected key '" + key + "' in header", kResaveHint);
      }
      skip_ws();
      if (consume('}')) break;
      expect(',');
    }
    skip_ws();
    RF_CHECK(pos_ == s_.size(),
             "unexpected text after the header dict at offset " + std::to_string(pos_), path_,
             kResaveHint);
    RF_CHECK(have_descr, "header has no 'descr' key", path_, kResaveHint);
    RF_CHECK(have_fortran, "header has no 'fortran_order' key", path_, kResaveHint);
    RF_CHECK(have_shape, "header has no 'shape' key", path_, kResaveHint);
    return h;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool consume(char c) {
    if (peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("malformed .npy header: " + what + " at offset " + std::to_string(pos_), path_,
                kResaveHint);
  }

  [[noreturn]] void fail_field(const std::string& field, const std::string& what,
                               const std::string& hint) const {
    throw Error(what, where_field(path_, field), hint);
  }

  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }

  std::string parse_string(const char* what) {
    const char q = peek();
    if (q != '\'' && q != '"') fail(std::string("expected a quoted string for ") + what);
    ++pos_;
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      // numpy never escapes inside descr or key names; refusing escapes keeps the parser exact.
      if (s_[pos_] == '\\') fail("escape sequences are not supported in header strings");
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    std::string out = s_.substr(start, pos_ - start);
    ++pos_;
    return out;
  }

  bool parse_bool(const std::string& key) {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail_field(key, "expected True or False", kResaveHint);
  }

  std::int64_t parse_dim() {
    if (peek() == '-')
      fail_field("shape", "negative dimension in shape", "the file is corrupt; save it again");
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in 'shape'");
    std::int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int d = peek() - '0';
      if (v > (std::numeric_limits<std::int64_t>::max() - d) / 10)
        fail_field("shape", "dimension does not fit in 64 bits", kResaveHint);
      v = v * 10 + d;
      ++pos_;
    }
    consume('L');  // Python 2 era numpy wrote longs as 3L
    return v;
  }

  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> shape;
    expect('(');
    for (;;) {
      skip_ws();
      if (consume(')')) break;
      shape.push_back(parse_dim());
      skip_ws();
      if (consume(')')) break;
      expect(',');
    }
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

NpyDtype dtype_from_descr(const std::string& descr, const std::string& path) {
  const std::string where = where_field(path, "descr");
  RF_CHECK(descr.size() >= 3, "unsupported dtype '" + descr + "'", where,
           "supported: <f4 <f8 <f2 <i8 <i4 <i2 |i1 |u1 |b1");
  const char order = descr[0];
  const std::string code = descr.substr(1);
  RF_CHECK(order != '>',
           "big-endian data ('" + descr + "') is not supported", where,
           "convert in Python with a.astype(a.dtype.newbyteorder('<')) and save again");
  RF_CHECK(order == '<' || order == '|' || order == '=',
           "unsupported dtype '" + descr + "'", where,
           "supported: <f4 <f8 <f2 <i8 <i4 <i2 |i1 |u1 |b1");
  struct Entry {
    const char* code;
    at::ScalarType type;
    std::size_t itemsize;
  };
  static const Entry kTable[] = {
      {"f4", at::kFloat, 4}, {"f8", at::kDouble, 8}, {"f2", at::kHalf, 2},
      {"i8", at::kLong, 8},  {"i4", at::kInt, 4},    {"i2", at::kShort, 2},
      {"i1", at::kChar, 1},  {"u1", at::kByte, 1},   {"b1", at::kBool, 1},
  };
  for (const Entry& e : kTable) {
    if (code != e.code) continue;
    // '|' means "byte order not applicable": unambiguous only for 1-byte items. '=' is native,
    // which is little-endian on every host we build for (checked at compile time above).
    RF_CHECK(!(order == '|' && e.itemsize > 1),
             "dtype '" + descr + "' has no byte order", where, kResaveHint);
    return {e.type, e.itemsize};
  }
  std::string hint = "supported: <f4 <f8 <f2 <i8 <i4 <i2 |i1 |u1 |b1";
  if (code == "u2" || code == "u4" || code == "u8")
    hint = "unsigned types wider than 8 bits are not supported; save with a.astype(np.int64)";
  throw Error("unsupported dtype '" + descr + "'", where, hint);
}

std::uint16_t read_le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t read_le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

const char* descr_for(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "<f4";
    case at::kDouble: return "<f8";
    case at::kHalf: return "<f2";
    case at::kLong: return "<i8";
    case at::kInt: return "<i4";
    case at::kShort: return "<i2";
    case at::kChar: return "|i1";
    case at::kByte: return "|u1";
    case at::kBool: return "|b1";
    default: return nullptr;
  }
}

// Python's repr of a tuple of ints, which is what numpy puts in the header.
std::string shape_repr(at::IntArrayRef sizes) {
  if (sizes.empty()) return "()";
  if (sizes.size() == 1) return "(" + std::to_string(sizes[0]) + ",)";
  std::string s = "(";
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(sizes[i]);
  }
  return s + ")";
}

void append_le(std::string& out, std::uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

namespace {

// The preamble (magic, version, header length) and the header text, each length checked against
// the file's size before anything is allocated. Sets `data_offset` to where the array's bytes start.
std::string read_npy_header_text(std::ifstream& in, const std::string& path, std::uint64_t file_size,
                                 std::uint64_t& data_offset) {
  RF_CHECK(file_size >= kMagicLen + 4,
           "file is only " + std::to_string(file_size) + " bytes, too short to be .npy", path,
           "check that this is a file written by np.save");
  unsigned char prefix[12];
  in.read(reinterpret_cast<char*>(prefix), 8);
  RF_CHECK(in.gcount() == 8, "cannot read .npy preamble", path, "check file permissions");
  RF_CHECK(std::memcmp(prefix, kMagic, kMagicLen) == 0, "bad magic: not a .npy file", path,
           "check that this is a file written by np.save (not .npz, text or pickle)");
  const int major = prefix[6], minor = prefix[7];
  RF_CHECK((major == 1 || major == 2 || major == 3) && minor == 0,
           "unsupported .npy format version " + std::to_string(major) + "." +
               std::to_string(minor),
           path, "versions 1.0, 2.0 and 3.0 are supported; " + std::string(kResaveHint));

  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::uint64_t preamble = 8 + len_bytes;
  RF_CHECK(file_size >= preamble, "file ends inside the header length field", path,
           "the file is truncated; save it again");
  in.read(reinterpret_cast<char*>(prefix + 8), static_cast<std::streamsize>(len_bytes));
  RF_CHECK(in.gcount() == static_cast<std::streamsize>(len_bytes), "cannot read header length",
           path, "check file permissions");
  const std::uint64_t header_len = major == 1 ? read_le16(prefix + 8) : read_le32(prefix + 8);
  RF_CHECK(header_len <= file_size - preamble,
           "header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(file_size) + " bytes)",
           path, "the file is truncated or corrupt; save it again");
  RF_CHECK(header_len <= kMaxHeaderLen,
           "header length " + std::to_string(header_len) + " exceeds the limit of " +
               std::to_string(kMaxHeaderLen) + " bytes",
           path, "the file is corrupt; save it again");

  std::string header(static_cast<std::size_t>(header_len), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  RF_CHECK(static_cast<std::uint64_t>(in.gcount()) == header_len, "cannot read header", path,
           "check file permissions");

  data_offset = preamble + header_len;
  return header;
}

// Bytes of data the header promises: the element count (overflow-checked) times the item size.
std::uint64_t npy_data_bytes(const NpyHeader& h, const NpyDtype& dt, const std::string& path) {
  // Fortran and C order describe the same bytes when at most one axis is longer than 1.
  std::size_t long_axes = 0;
  for (std::int64_t d : h.shape) long_axes += d > 1;
  RF_CHECK(!h.fortran_order || long_axes <= 1, "Fortran-ordered arrays are not supported",
           where_field(path, "fortran_order"),
           "save with np.save(path, np.ascontiguousarray(a))");

  // Product over all dims, overflow-checked; a zero anywhere makes the array empty whatever the
  // other dims claim, but each dim still had to fit in int64 to get here.
  std::uint64_t numel = 1;
  bool has_zero = false;
  for (std::int64_t d : h.shape) has_zero |= d == 0;
  if (has_zero) {
    numel = 0;
  } else {
    for (std::int64_t d : h.shape) {
      RF_CHECK(!__builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel) &&
                   numel <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
               "shape " + shape_repr(h.shape) + " has too many elements to address",
               where_field(path, "shape"), "the file is corrupt; save it again");
    }
  }
  std::uint64_t nbytes = 0;
  RF_CHECK(!__builtin_mul_overflow(numel, static_cast<std::uint64_t>(dt.itemsize), &nbytes),
           "shape " + shape_repr(h.shape) + " times item size overflows",
           where_field(path, "shape"), "the file is corrupt; save it again");
  return nbytes;
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  check_readable_file(path);
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  RF_CHECK(!ec, "cannot get file size: " + ec.message(), path, "check file permissions");

  std::ifstream in(path, std::ios::binary);
  RF_CHECK(in.is_open(), "cannot open file for reading", path, "check file permissions");
  std::uint64_t data_offset = 0;
  const std::string header = read_npy_header_text(in, path, file_size, data_offset);
  const NpyHeader h = HeaderParser(header, path).parse();
  const NpyDtype dt = dtype_from_descr(h.descr, path);
  const std::uint64_t nbytes = npy_data_bytes(h, dt, path);

  const std::uint64_t data_bytes = file_size - data_offset;
  RF_CHECK(data_bytes >= nbytes,
           "truncated: expected " + std::to_string(nbytes) + " bytes of data, file has " +
               std::to_string(data_bytes),
           path, "the file was cut short (interrupted copy or save?); save it again");
  RF_CHECK(data_bytes == nbytes,
           "expected " + std::to_string(nbytes) + " bytes of data for shape " +
               shape_repr(h.shape) + ", file has " + std::to_string(data_bytes) +
               " (extra trailing bytes)",
           path, "the header and data disagree; save it again with np.save");

  // Only now, with the size proven to match real bytes on disk, is allocating safe.
  at::Tensor t = at::empty(h.shape, at::TensorOptions().dtype(dt.type));
  if (nbytes > 0) {
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(nbytes));
    RF_CHECK(static_cast<std::uint64_t>(in.gcount()) == nbytes,
             "read " + std::to_string(in.gcount()) + " of " + std::to_string(nbytes) +
                 " data bytes",
             path, "the file may be changing while being read; retry");
  }
  if (dt.type == at::kBool && nbytes > 0) {
    // A bool byte other than 0/1 is undefined behaviour for torch kernels, so refuse it here.
    const auto* p = static_cast<const unsigned char*>(t.data_ptr());
    for (std::uint64_t i = 0; i < nbytes; ++i)
      RF_CHECK(p[i] <= 1, "bool element " + std::to_string(i) + " has byte value " +
                              std::to_string(p[i]) + " (must be 0 or 1)",
               path, "save with a.astype(bool)");
  }
  return t;
}

namespace {

// numpy's own header for a C-order array of `descr` and `sizes`.
std::string npy_header(const char* descr, at::IntArrayRef sizes, const std::string& path) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape_repr(sizes) + ", }";
  if (!sizes.empty()) {
    const std::size_t digits = std::to_string(sizes[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  const std::size_t hlen = dict.size() + 1;  // + the terminating '\n'
  // Same rule as numpy's _wrap_header: padding is never zero, an aligned header gains 64 bytes.
  int version = 1;
  std::size_t preamble = 10;
  std::size_t padlen = kArrayAlign - ((preamble + hlen) % kArrayAlign);
  if (hlen + padlen > 0xffff) {
    version = 2;
    preamble = 12;
    padlen = kArrayAlign - ((preamble + hlen) % kArrayAlign);
  }
  RF_CHECK(hlen + padlen <= 0xffffffffull, "header too long for the .npy format", path,
           "the tensor has too many dimensions");
  std::string out;
  out.append(kMagic, kMagicLen);
  out.push_back(static_cast<char>(version));
  out.push_back('\0');
  append_le(out, hlen + padlen, version == 1 ? 2 : 4);
  out += dict;
  out.append(padlen, ' ');
  out.push_back('\n');
  return out;
}

const char* checked_descr(at::ScalarType t, const std::string& path) {
  const char* descr = descr_for(t);
  RF_CHECK(descr != nullptr, std::string("dtype ") + c10::toString(t) + " cannot be stored in .npy", path,
           "convert first, e.g. t.to(torch::kFloat32)");
  return descr;
}

}  // namespace

std::string encode_npy(const at::Tensor& t, const std::string& where) {
  RF_CHECK(t.defined(), "cannot save an undefined tensor", where, "pass a tensor with data");
  const char* descr = checked_descr(t.scalar_type(), where);
  const at::Tensor c = t.detach().to(at::kCPU).contiguous();
  const std::size_t nbytes = c.numel() * c.element_size();
  std::string out = npy_header(descr, c.sizes(), where);
  out.reserve(out.size() + nbytes);
  if (nbytes > 0) out.append(static_cast<const char*>(c.data_ptr()), nbytes);
  return out;
}

void write_npy(const std::string& path, const at::Tensor& t) { write_file_atomic(path, encode_npy(t, path)); }

NpyRowWriter::NpyRowWriter(std::string path, at::ScalarType dtype, std::vector<int64_t> shape)
    : path_(std::move(path)), dtype_(dtype), shape_(std::move(shape)) {
  RF_CHECK(!shape_.empty(), "a row writer needs at least one axis", path_, "");
  const std::string header = npy_header(checked_descr(dtype_, path_), shape_, path_);
  tmp_ = begin_output(path_);
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  RF_CHECK(out_.good(), "cannot create a temporary file next to it", path_, "check that the directory is writable");
  write(header.data(), header.size());
}

NpyRowWriter::~NpyRowWriter() {
  if (tmp_.empty()) return;  // finished
  out_.close();
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
}

void NpyRowWriter::write(const char* data, std::size_t n) {
  out_.write(data, static_cast<std::streamsize>(n));
  RF_CHECK(out_.good(), "writing failed (the disk may be full)", path_, "free disk space; nothing was replaced");
}

void NpyRowWriter::append(const at::Tensor& rows) {
  const at::Tensor c = rows.detach().to(at::kCPU).to(dtype_).contiguous();
  RF_CHECK(c.dim() == static_cast<int64_t>(shape_.size()) &&
               std::equal(shape_.begin() + 1, shape_.end(), c.sizes().begin() + 1) && rows_ + c.size(0) <= shape_[0],
           "rows of shape " + shape_repr(c.sizes()) + " do not continue an array of shape " + shape_repr(shape_), path_, "");
  write(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  rows_ += c.size(0);
}

void NpyRowWriter::finish() {
  RF_CHECK(rows_ == shape_[0], std::to_string(rows_) + " of " + std::to_string(shape_[0]) + " rows written", path_, "");
  out_.close();
  RF_CHECK(!out_.fail(), "writing failed (the disk may be full)", path_, "free disk space; nothing was replaced");
  finish_output(tmp_, path_);
  tmp_.clear();
}

at::Tensor read_npy_matrix(const std::string& path) { return as_point_matrix(read_npy(path), path); }

at::Tensor as_point_matrix(at::Tensor t, const std::string& path) {
  RF_CHECK(t.dim() == 2,
           "expected a 2-D array [N, D] of points, got " + std::to_string(t.dim()) + "-D shape " +
               shape_repr(t.sizes()),
           path, "reshape in Python, e.g. a.reshape(len(a), -1), and save again");
  RF_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
           std::string("expected float32 or float64 points, got ") +
               c10::toString(t.scalar_type()),
           path, "save with a.astype(np.float32)");
  RF_CHECK(t.size(0) > 0, "the point array has no rows (N == 0)", path,
           "check that the data set is not empty");
  RF_CHECK(t.size(1) > 0, "the point array has no columns (D == 0)", path,
           "check the array's shape");

  auto first_bad = [](const at::Tensor& x) -> std::pair<std::int64_t, std::int64_t> {
    const at::Tensor bad = at::logical_not(at::isfinite(x));
    if (!bad.any().item<bool>()) return {-1, -1};
    const at::Tensor idx = at::nonzero(bad);  // row-major order, so the first row is the first hit
    return {idx[0][0].item<std::int64_t>(), idx[0][1].item<std::int64_t>()};
  };
  auto [row, col] = first_bad(t);
  if (row >= 0) {
    const double v = t[row][col].item<double>();
    throw Error("row " + std::to_string(row) + " (column " + std::to_string(col) + ") is " +
                    (std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf")),
                path, "remove or impute non-finite rows before saving");
  }
  at::Tensor f = t.to(at::kFloat);
  std::tie(row, col) = first_bad(f);
  RF_CHECK(row < 0,
           "row " + std::to_string(row) + " (column " + std::to_string(col) +
               ") overflows float32",
           path, "rescale the data so every value fits in float32 (|x| < 3.4e38)");
  return f.contiguous();
}

at::Tensor read_npy_samples(const std::string& path, const std::vector<int64_t>& sample_shape) {
  at::Tensor t = read_npy(path);
  const bool points = sample_shape.empty() ? t.dim() <= 2 : sample_shape.size() == 1;
  if (points) {
    t = as_point_matrix(t, path);
    RF_CHECK(sample_shape.empty() || t.size(1) == sample_shape[0],
             "the points have " + std::to_string(t.size(1)) + " dimensions, the model " + std::to_string(sample_shape[0]),
             path, "pass samples of the model's data");
    return t;
  }
  RF_CHECK(t.dim() == 3 || t.dim() == 4,
           "expected images N×H×W or N×C×H×W, got a " + std::to_string(t.dim()) + "-D array " + shape_repr(t.sizes()),
           path, "save the images as one array, e.g. np.save(path, np.stack(images))");
  RF_CHECK(t.scalar_type() == at::kByte || t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
           std::string("expected uint8 (0–255) or float images (in [−1, 1]), got ") + c10::toString(t.scalar_type()),
           path, "save with a.astype(np.float32) (scaled to [−1, 1]) or as uint8");
  if (t.dim() == 3) t = t.unsqueeze(1);
  RF_CHECK(t.size(0) > 0, "the array has no images (N == 0)", path, "check that it is not empty");
  const std::vector<int64_t> got(t.sizes().begin() + 1, t.sizes().end());
  RF_CHECK(sample_shape.empty() || got == sample_shape,
           "images of shape " + shape_repr(t.sizes().slice(1)) + ", the model makes " + shape_repr(sample_shape), path,
           "pass images of the model's data");
  if (t.scalar_type() == at::kByte) return (t.to(at::kFloat) / 127.5 - 1).contiguous();
  const at::Tensor bad = at::logical_not(at::isfinite(t)).flatten(1).any(1);
  if (bad.any().item<bool>())
    throw Error("image " + std::to_string(at::nonzero(bad)[0][0].item<int64_t>()) + " has NaN/Inf values", path,
                "remove or repair non-finite images before saving");
  return t.to(at::kFloat).contiguous();
}

}  // namespace rflow::io
