#include "rflow/io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"

namespace fs = std::filesystem;

namespace rflow::io {

namespace {

struct IdxType {
  uint8_t code;
  at::ScalarType dtype;
  size_t size;
};

const IdxType kTypes[] = {{0x08, at::kByte, 1},  {0x09, at::kChar, 1},  {0x0B, at::kShort, 2},
                          {0x0C, at::kInt, 4},   {0x0D, at::kFloat, 4}, {0x0E, at::kDouble, 8}};

const IdxType* type_of_code(uint8_t code) {
  for (const auto& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

const IdxType* type_of_dtype(at::ScalarType d) {
  for (const auto& t : kTypes)
    if (t.dtype == d) return &t;
  return nullptr;
}

uint32_t big_endian_u32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

bool is_gzip(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char m[2] = {0, 0};
  f.read(reinterpret_cast<char*>(m), 2);
  return f.gcount() == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

// The gzip trailer's ISIZE: the uncompressed length modulo 2^32 (single-member files).
uint64_t gzip_isize(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  const auto size = static_cast<int64_t>(f.tellg());
  RF_CHECK(size >= 18, "gzip file too short to be valid", path, "the download is truncated; reinstall the data set");
  f.seekg(size - 4);
  unsigned char b[4];
  f.read(reinterpret_cast<char*>(b), 4);
  return uint64_t(b[0]) | (uint64_t(b[1]) << 8) | (uint64_t(b[2]) << 16) | (uint64_t(b[3]) << 24);
}

// Reads through zlib for .gz and plain files alike.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    RF_CHECK(f_ != nullptr, "cannot open IDX file", path, "check the path (Fashion-MNIST: apt install dataset-fashion-mnist)");
    gzbuffer(f_, 1 << 17);
  }
  ~Reader() { gzclose(f_); }
  size_t read(void* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      int got = gzread(f_, static_cast<char*>(dst) + done, chunk);
      if (got < 0) {
        int err = 0;
        throw Error(std::string("corrupt compressed data: ") + gzerror(f_, &err), path_,
                    "the file is damaged; reinstall or re-download it");
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

 private:
  std::string path_;
  gzFile f_;
};

}  // namespace

at::Tensor read_idx(const std::string& path) {
  check_readable_file(path, "check the path (Fashion-MNIST: apt install dataset-fashion-mnist, files under /usr/share/datasets/fashion-mnist/)");
  const bool gz = is_gzip(path);
  Reader in(path);
  unsigned char head[4];
  RF_CHECK(in.read(head, 4) == 4, "file too short for an IDX header", path, "");
  RF_CHECK(head[0] == 0 && head[1] == 0, "not an IDX file (bad magic)", path, "IDX files start with two zero bytes");
  const IdxType* type = type_of_code(head[2]);
  RF_CHECK(type != nullptr, "unknown IDX data type code " + std::to_string(head[2]), path,
           "valid: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double");
  const int nd = head[3];
  RF_CHECK(nd >= 1 && nd <= 4, "IDX files with " + std::to_string(nd) + " dimensions are not supported", path, "1 to 4");
  std::vector<unsigned char> dims_raw(4 * nd);
  RF_CHECK(in.read(dims_raw.data(), dims_raw.size()) == dims_raw.size(), "truncated IDX header", path, "");
  std::vector<int64_t> shape;
  uint64_t count = 1;
  for (int i = 0; i < nd; ++i) {
    const uint32_t d = big_endian_u32(&dims_raw[4 * i]);
    RF_CHECK(d > 0, "IDX dimension " + std::to_string(i) + " is zero", path, "");
    shape.push_back(d);
    count *= d;
    RF_CHECK(count <= (uint64_t(1) << 34), "IDX dimensions are implausibly large", path, "the header is corrupt");
  }
  const uint64_t bytes = count * type->size, header = 4 + 4 * uint64_t(nd);
  // The data length is known before reading it: from the file size, or the gzip trailer.
  const uint64_t total = gz ? gzip_isize(path) : static_cast<uint64_t>(fs::file_size(path));
  const uint64_t mod32 = uint64_t(1) << 32;
  RF_CHECK(gz ? total % mod32 == (header + bytes) % mod32 : total == header + bytes,
           "IDX data length does not match its header: header says " + std::to_string(header + bytes) + " bytes, file has " +
               std::to_string(total),
           path, "the file is truncated or not what it claims to be");
  // The trailer only knows the length mod 2^32, so a tiny gzip file can claim gigabytes; deflate
  // cannot expand more than 1032:1, so anything beyond that is refused before allocating.
  const uint64_t on_disk = static_cast<uint64_t>(fs::file_size(path));
  RF_CHECK(!gz || header + bytes <= 1032 * on_disk + 1024,
           "IDX header claims " + std::to_string(header + bytes) + " bytes, more than a gzip file of " +
               std::to_string(on_disk) + " bytes can hold",
           path, "the file is corrupt or not what it claims to be");
  at::Tensor out = torch::empty(shape, torch::TensorOptions().dtype(type->dtype));
  auto* dst = static_cast<unsigned char*>(out.data_ptr());
  RF_CHECK(in.read(dst, bytes) == bytes, "IDX data is truncated", path, "reinstall or re-download the file");
  unsigned char extra;
  RF_CHECK(in.read(&extra, 1) == 0, "IDX file has data after its declared end", path, "the header's dimensions are wrong");
  if (type->size > 1) {  // big-endian on disk
    for (uint64_t i = 0; i < count; ++i) std::reverse(dst + i * type->size, dst + (i + 1) * type->size);
  }
  return out;
}

void write_idx(const std::string& path, const at::Tensor& t) {
  const IdxType* type = type_of_dtype(t.scalar_type());
  RF_CHECK(type != nullptr, "IDX cannot hold dtype " + std::string(c10::toString(t.scalar_type())), path,
           "convert to uint8, int8, int16, int32, float32 or float64");
  RF_CHECK(t.dim() >= 1 && t.dim() <= 4, "IDX holds 1 to 4 dimensions", path, "");
  at::Tensor c = t.cpu().contiguous();
  std::string buf;
  buf += std::string{'\0', '\0', static_cast<char>(type->code), static_cast<char>(t.dim())};
  for (auto d : c.sizes())
    for (int s = 24; s >= 0; s -= 8) buf.push_back(static_cast<char>((uint64_t(d) >> s) & 0xff));
  const size_t start = buf.size();
  buf.append(static_cast<const char*>(c.data_ptr()), c.numel() * type->size);
  if (type->size > 1)
    for (size_t i = start; i < buf.size(); i += type->size) std::reverse(buf.begin() + i, buf.begin() + i + type->size);
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    // gzip container (windowBits 15 + 16) in memory, then one atomic write.
    z_stream zs{};
    RF_CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "zlib init failed", path, "");
    std::string out(deflateBound(&zs, buf.size()) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_in = static_cast<uInt>(buf.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    RF_CHECK(rc == Z_STREAM_END, "gzip compression failed", path, "");
    buf.swap(out);
  }
  write_file_atomic(path, buf);
}

}  // namespace rflow::io
