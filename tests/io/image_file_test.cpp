#include <vector>

#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <torch/torch.h>

#include "rflow/core/error.h"
#include "rflow/io/image_file.h"
#include "tests/test_util.h"

using namespace rflow;

TEST(ImageFile, PngRoundTripsGreyAndRgb) {
  test::TempDir dir;
  auto grey = torch::randint(0, 256, {9, 13}, torch::kInt64).to(torch::kUInt8);
  auto rgb = torch::randint(0, 256, {5, 7, 3}, torch::kInt64).to(torch::kUInt8);
  io::write_png(dir.file("g.png"), grey);
  io::write_png(dir.file("c.png"), rgb);
  EXPECT_TRUE(torch::equal(io::read_image(dir.file("g.png")), grey.unsqueeze(2)));
  EXPECT_TRUE(torch::equal(io::read_image(dir.file("c.png")), rgb));
  EXPECT_EQ(io::read_image(dir.file("g.png"), 3).sizes(), (std::vector<int64_t>{9, 13, 3}));
  EXPECT_THROW(io::write_png(dir.file("f.png"), torch::zeros({4, 4})), Error);  // float, not uint8
}

TEST(ImageFile, CorruptOrForeignFilesAreClearErrors) {
  test::TempDir dir;
  io::write_png(dir.file("ok.png"), torch::zeros({32, 32}, torch::kUInt8));
  std::string ok = test::read_text(dir.file("ok.png"));
  test::write_text(dir.file("cut.png"), ok.substr(0, ok.size() / 3));
  test::write_text(dir.file("text.png"), "this is not an image");
  EXPECT_THROW(io::read_image(dir.file("cut.png")), Error);
  try {
    io::read_image(dir.file("text.png"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("text.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::read_image(dir.file("missing.png")), Error);
}

TEST(ImageFile, GridTilesImagesWithPaddingAndMapsTheRange) {
  // Three 1×2×2 images in [−1, 1] on 2 columns, 1 pixel of white padding.
  auto ims = torch::stack({torch::full({1, 2, 2}, -1.0f), torch::full({1, 2, 2}, 1.0f), torch::zeros({1, 2, 2})});
  auto g = io::image_grid(ims, 2, 1);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{7, 7, 1}));
  EXPECT_EQ(g[1][1][0].item<int>(), 0);     // image 0, black
  EXPECT_EQ(g[1][4][0].item<int>(), 255);   // image 1, white
  EXPECT_EQ(g[4][1][0].item<int>(), 128);   // image 2, mid grey (127.5 rounds up)
  EXPECT_EQ(g[4][4][0].item<int>(), 255);   // empty cell: background
  EXPECT_EQ(g[0][0][0].item<int>(), 255);   // padding
  EXPECT_THROW(io::image_grid(torch::zeros({2, 2, 4, 4}), 2), Error);  // 2 channels
}

// Found by fuzzing: a TGA header of 18 bytes claiming 8192×4096 pixels made the decoder invent 100
// MB from nothing for seconds. A claim beyond what the file's bytes can hold is refused first
// (here a BMP header, TGA is no longer decoded at all), and so are formats image folders never
// hold (stb's PNM parser had undefined behaviour on a long header number).
TEST(ImageFile, AHeaderClaimingMorePixelsThanTheFileHoldsIsRefused) {
  test::TempDir dir;
  std::string bmp = "BM";
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) bmp.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); };
  auto u16 = [&](uint16_t v) { for (int i = 0; i < 2; ++i) bmp.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); };
  u32(54), u32(0), u32(54);                        // file size (a lie), reserved, pixel data offset
  u32(40), u32(8192), u32(4096), u16(1), u16(24);  // BITMAPINFOHEADER: 8192 × 4096, 24 bits
  u32(0), u32(0), u32(0), u32(0), u32(0), u32(0);  // no compression, sizes and palette left 0
  test::write_text(dir.file("bomb.bmp"), bmp);
  try {
    io::read_image(dir.file("bomb.bmp"));
    FAIL() << "decoded a 8192x4096 image from 54 bytes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than a file of 54 bytes can hold"), std::string::npos) << e.what();
  }
  test::write_text(dir.file("pgm.png"), "P5\n5555555555 4\n255\n" + std::string(16, '\0'));
  try {
    io::read_image(dir.file("pgm.png"));
    FAIL() << "decoded a PNM file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("PNG, JPEG and BMP"), std::string::npos) << e.what();
  }
}

// A PNG may hold empty IDAT chunks; stb copied their zero bytes from a null pointer (undefined
// behaviour, found by fuzzing, visible under UBSan). They are dropped before decoding, so the
// image reads the same with or without them.
TEST(ImageFile, EmptyIdatChunksChangeNothing) {
  test::TempDir dir;
  at::Tensor img = torch::arange(0, 64, torch::kInt64).to(torch::kUInt8).view({8, 8});
  io::write_png(dir.file("plain.png"), img);
  std::string png = test::read_text(dir.file("plain.png"));
  const size_t idat = png.find("IDAT") - 4;  // the chunk's length field
  const std::string empty("\0\0\0\0IDAT\x35\xaf\x06\x1e", 12);  // length 0, type, CRC of "IDAT"
  test::write_text(dir.file("empty.png"), png.substr(0, idat) + empty + png.substr(idat));
  EXPECT_TRUE(torch::equal(io::read_image(dir.file("empty.png")), io::read_image(dir.file("plain.png"))));
}

// Found by fuzzing: a JPEG whose Huffman table declares more than 256 symbols made stb write past
// its tables (memory corruption). Such a file is refused before stb sees it.
TEST(ImageFile, AJpegHuffmanTableWithTooManySymbolsIsRefused) {
  test::TempDir dir;
  std::string jpg("\xFF\xD8", 2);
  jpg += std::string("\xFF\xC4\x00\x13\x00", 5);  // DHT, length 19, class 0 / table 0
  jpg += std::string(16, '\x20');                     // 16 lengths × 32 codes = 512 symbols
  jpg += std::string(600, '\x01');
  test::write_text(dir.file("bad.jpg"), jpg);
  test::write_text(dir.file("padded.jpg"), std::string(5, '\xFF') + jpg.substr(1));  // fill bytes before SOI
  EXPECT_THROW(io::read_image(dir.file("padded.jpg")), Error);
  // The table cut off by the end of the file: stb reads zeros past it, the counts still sum > 256.
  test::write_text(dir.file("cut.jpg"), jpg.substr(0, 7) + std::string(8, '\x40'));
  EXPECT_THROW(io::read_image(dir.file("cut.jpg")), Error);
  // A real JPEG (baseline, written by stb) passes the check and decodes.
  std::vector<unsigned char> px(24 * 16 * 3);
  for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<unsigned char>(k * 7);
  ASSERT_NE(stbi_write_jpg(dir.file("ok.jpg").c_str(), 24, 16, 3, px.data(), 90), 0);
  EXPECT_EQ(io::read_image(dir.file("ok.jpg")).sizes(), (std::vector<int64_t>{16, 24, 3}));
  try {
    io::read_image(dir.file("bad.jpg"));
    FAIL() << "stb was handed a Huffman table of 512 symbols";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 256 symbols"), std::string::npos) << e.what();
  }
}
