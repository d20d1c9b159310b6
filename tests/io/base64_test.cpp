// Base64 against RFC 4648's test vectors (every padding case) and bytes that are not text.
#include <gtest/gtest.h>

#include "rflow/io/base64.h"

TEST(Base64, RfcVectorsAndBinaryBytes) {
  using rflow::io::base64;
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\x00\xff\xfe", 3)), "AP/+");
  EXPECT_EQ(base64("\x89PNG"), "iVBORw==");
}
