#include "core/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace driftguard::core {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Base64Test, RoundTripsAndRejectsBadInput) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(*Base64Decode(Base64Encode(all)), all);
  EXPECT_EQ(*Base64Decode("Zm8="), "fo");
  EXPECT_EQ(*Base64Decode("Zg=="), "f");
  EXPECT_EQ(*Base64Decode(""), "");
  EXPECT_EQ(Base64Decode("Zm8").status(),
            InvalidArgumentError("base64: length 3 is not a multiple of 4"));
  EXPECT_EQ(Base64Decode("Zm$v").status(),
            InvalidArgumentError("base64: invalid character at offset 2"));
  EXPECT_EQ(Base64Decode("Z===").status(),
            InvalidArgumentError("base64: invalid character at offset 1"));
  EXPECT_EQ(Base64Decode("Zg==Zg==").status(),
            InvalidArgumentError("base64: invalid character at offset 2"));
  EXPECT_EQ(Base64Decode("Zm9v\n").status(),
            InvalidArgumentError("base64: length 5 is not a multiple of 4"));
}

}  // namespace
}  // namespace driftguard::core
