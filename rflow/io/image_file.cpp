#include "rflow/io/image_file.h"

#include <algorithm>
#include <filesystem>

#include <stb_image.h>
#include <stb_image_write.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"

namespace rflow::io {

namespace {
void append_bytes(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}
constexpr int kMaxSide = 1 << 14;
// A 100-byte PNG can claim 16384×16384 pixels: decoding it would take a gigabyte. Data-set images
// are far smaller, so a header beyond 2^25 pixels (e.g. 8192×4096) is refused before decoding.
constexpr int64_t kMaxPixels = int64_t(1) << 25;
}  // namespace

std::string encode_png(const at::Tensor& image, const std::string& path) {
  RF_CHECK(image.scalar_type() == at::kByte, "PNG images must be uint8", path, "scale to [0, 255] and convert first");
  at::Tensor im = image.dim() == 2 ? image.unsqueeze(2) : image;
  RF_CHECK(im.dim() == 3 && (im.size(2) == 1 || im.size(2) == 3 || im.size(2) == 4) && im.size(0) > 0 && im.size(1) > 0,
           "PNG images are [H, W] or [H, W, 1|3|4]", path, "");
  im = im.cpu().contiguous();
  std::string bytes;
  const int h = static_cast<int>(im.size(0)), w = static_cast<int>(im.size(1)), c = static_cast<int>(im.size(2));
  RF_CHECK(stbi_write_png_to_func(append_bytes, &bytes, w, h, c, im.data_ptr(), w * c) != 0, "PNG encoding failed", path, "");
  return bytes;
}

void write_png(const std::string& path, const at::Tensor& image) { write_file_atomic(path, encode_png(image, path)); }

namespace {

// PNG chunks: length (4 bytes, big-endian), type (4), data, CRC (4). An empty IDAT chunk carries
// nothing, but stb copies its zero bytes from a null buffer (undefined behaviour, found by fuzzing),
// so such chunks are dropped before decoding. Anything malformed is left for stb to refuse.
std::string without_empty_idat(std::string data) {
  static const char kSig[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
  if (data.size() < 8 || data.compare(0, 8, std::string(kSig, 8)) != 0) return data;
  std::string out = data.substr(0, 8);
  size_t at = 8;
  while (at + 12 <= data.size()) {
    const auto* b = reinterpret_cast<const unsigned char*>(data.data() + at);
    const uint64_t n = (uint64_t(b[0]) << 24) | (uint64_t(b[1]) << 16) | (uint64_t(b[2]) << 8) | b[3];
    if (at + 12 + n > data.size()) break;
    if (!(n == 0 && data.compare(at + 4, 4, "IDAT") == 0)) out.append(data, at, 12 + n);
    at += 12 + n;
  }
  out.append(data, at, std::string::npos);
  return out;
}

// The 16 code-length counts of each JPEG Huffman table (DHT segment) must sum to at most 256
// symbols. stb does not check, and writes past its tables when they do not (found by fuzzing):
// every DHT in the file, between scans too, is checked here first.
bool jpeg_huffman_tables_fit(const std::string& d) {
  const auto* b = reinterpret_cast<const unsigned char*>(d.data());
  const size_t size = d.size();
  // stb, like the JPEG spec, lets any number of 0xFF fill bytes precede a marker, SOI included.
  size_t i = 0;
  while (i < size && b[i] == 0xFF) ++i;
  if (i == 0 || i >= size || b[i] != 0xD8) return true;  // not a JPEG
  ++i;
  while (i + 4 <= size) {
    if (b[i] != 0xFF || b[i + 1] == 0xFF) {  // entropy-coded data, or fill bytes
      ++i;
      continue;
    }
    const unsigned m = b[i + 1];
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {  // stuffed byte, TEM, RSTn, SOI: no length
      i += 2;
      continue;
    }
    if (m == 0xD9) break;  // EOI
    const size_t len = (size_t(b[i + 2]) << 8) | b[i + 3];
    if (m == 0xC4) {
      size_t p = i + 4;
      const size_t end = i + 2 + len;
      while (p < end && p < size) {
        unsigned n = 0;  // stb reads zeros past the end of the file; so does this count
        for (size_t k = 1; k <= 16 && p + k < size; ++k) n += b[p + k];
        if (n > 256) return false;
        p += 17 + n;
      }
    }
    if (len < 2) break;  // malformed: stb refuses it
    i += 2 + len;
  }
  return true;
}

}  // namespace

at::Tensor read_image(const std::string& path, int channels) {
  RF_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4, "channels must be 0, 1, 3 or 4", path, "");
  const std::string data = without_empty_idat(read_file(path));
  RF_CHECK(jpeg_huffman_tables_fit(data), "damaged JPEG: a Huffman table declares more than 256 symbols", path,
           "re-encode the image");
  const auto* buf = reinterpret_cast<const stbi_uc*>(data.data());
  const int len = static_cast<int>(data.size());
  int w = 0, h = 0, c = 0;
  RF_CHECK(data.size() < (size_t(1) << 31) && stbi_info_from_memory(buf, len, &w, &h, &c) != 0,
           std::string("not a readable image (") + stbi_failure_reason() + ")", path, "PNG, JPEG and BMP are supported");
  RF_CHECK(w > 0 && h > 0 && w <= kMaxSide && h <= kMaxSide && int64_t(w) * h <= kMaxPixels,
           "image size " + std::to_string(w) + "×" + std::to_string(h) + " is out of range", path,
           "at most 16384 per side and 33.5 million pixels");
  // No image format packs more than ~1000 decoded bytes into one file byte (deflate's limit is
  // 1032:1); a header that claims more describes data the file does not hold, and the decoder would
  // spend seconds inventing it (found by fuzzing: a 40-byte TGA claiming 2^25 pixels; a BMP header
  // can claim the same).
  RF_CHECK(int64_t(w) * h * std::max(c, 1) <= 2048 * int64_t(len) + (int64_t(1) << 20),
           "image header claims " + std::to_string(w) + "×" + std::to_string(h) + " pixels, more than a file of " +
               std::to_string(len) + " bytes can hold",
           path, "the file is truncated or damaged");
  int got_c = 0;
  stbi_uc* px = stbi_load_from_memory(buf, len, &w, &h, &got_c, channels);
  RF_CHECK(px != nullptr, std::string("image decoding failed (") + stbi_failure_reason() + ")", path, "the file is damaged");
  const int out_c = channels == 0 ? got_c : channels;
  at::Tensor out = torch::from_blob(px, {h, w, out_c}, torch::kUInt8).clone();
  stbi_image_free(px);
  return out;
}

at::Tensor image_grid(const at::Tensor& images, int64_t cols, int64_t pad) {
  RF_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3) && images.size(0) > 0,
           "image_grid takes [N, C, H, W] with C = 1 or 3", "image_grid", "");
  RF_CHECK(cols >= 1 && pad >= 0, "cols must be >= 1 and pad >= 0", "image_grid", "");
  at::Tensor u8 = images.scalar_type() == at::kByte
                      ? images.cpu()
                      : ((images.detach().cpu().to(torch::kFloat32).clamp(-1, 1) + 1) * 127.5).round().to(torch::kUInt8);
  const int64_t n = u8.size(0), c = u8.size(1), h = u8.size(2), w = u8.size(3);
  cols = std::min(cols, n);
  const int64_t rows = (n + cols - 1) / cols;
  at::Tensor grid = torch::full({rows * (h + pad) + pad, cols * (w + pad) + pad, c}, 255, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, k = i % cols;
    grid.slice(0, pad + r * (h + pad), pad + r * (h + pad) + h)
        .slice(1, pad + k * (w + pad), pad + k * (w + pad) + w)
        .copy_(u8[i].permute({1, 2, 0}));
  }
  return grid;
}

void write_image_grid(const std::string& path, const at::Tensor& images, int64_t cols, int64_t rows) {
  write_png(path, image_grid(images.slice(0, 0, std::min<int64_t>(images.size(0), cols * rows)), cols));
}

}  // namespace rflow::io
