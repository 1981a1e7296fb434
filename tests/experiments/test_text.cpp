// Names from outside made safe to print (experiments/src/text.hpp): what every one-line error message
// passes through (cli.bad_input_matrix checks the messages themselves).
#include <gtest/gtest.h>

#include <string>

#include "experiments/src/text.hpp"

namespace {

TEST(Printable, EscapesControlBytesAndInvalidUtf8Only) {
  EXPECT_EQ(sbx::printable("run-1 √d_k ✓"), "run-1 √d_k ✓");
  EXPECT_EQ(sbx::printable("a\nb\x1b[31m\x7f"), "a\\x0ab\\x1b[31m\\x7f");
  EXPECT_EQ(sbx::printable("a\xff" "b\xc3"), "a\\xffb\\xc3");
  EXPECT_EQ(sbx::printable("\xc0\x80"), "\\xc0\\x80");          // an overlong NUL
  EXPECT_EQ(sbx::printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  const std::string once = sbx::printable("x\ty\xfe");
  EXPECT_EQ(sbx::printable(once), once);  // escaping again changes nothing
}

TEST(Printable, ValidUtf8) {
  EXPECT_TRUE(sbx::is_valid_utf8(""));
  EXPECT_TRUE(sbx::is_valid_utf8("teacher-dk4 √ 𝔼"));
  EXPECT_FALSE(sbx::is_valid_utf8("a\xff"));
  EXPECT_FALSE(sbx::is_valid_utf8("\xe2\x88"));      // truncated
  EXPECT_FALSE(sbx::is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(sbx::is_valid_utf8("\x80"));          // a stray continuation byte
}

}  // namespace
