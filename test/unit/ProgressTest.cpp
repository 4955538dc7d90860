//===- ProgressTest.cpp - Progress display tests --------------------------===//
//
// Both output formats, byte for byte, through a tmpfile().
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/Progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

using namespace fresco;

namespace {

using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE *)>;

FilePtr makeTmp() { return FilePtr(std::tmpfile(), &std::fclose); }

std::string contents(std::FILE *f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
    s.append(buf, n);
  return s;
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  FilePtr f = makeTmp();
  ASSERT_TRUE(f);
  EXPECT_FALSE(isTerminal(f.get()));
  {
    ProgressBar bar(4, f.get(), false, "denoise");
    bar.step(1, 0.5);
    bar.step(2, 0.3);
    bar.finish();
    bar.finish();     // idempotent
    bar.step(3, 1.0); // ignored after finish
  }
  EXPECT_EQ(contents(f.get()), "denoise: step 1/4, 0.500 s, elapsed 0.5 s\n"
                               "denoise: step 2/4, 0.300 s, elapsed 0.8 s\n"
                               "denoise: 2 steps in 0.8 s (0.400 s/step)\n");
}

TEST(Progress, PlainLinesWithoutLabel) {
  FilePtr f = makeTmp();
  ProgressBar bar(2, f.get(), false, "");
  bar.step(1, 0.1);
  bar.step(2, 0.1);
  bar.finish();
  const std::string s = contents(f.get());
  EXPECT_EQ(s, "step 1/2, 0.100 s, elapsed 0.1 s\n"
               "step 2/2, 0.100 s, elapsed 0.2 s\n"
               "2 steps in 0.2 s (0.100 s/step)\n");
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(s.find('\x1b'), std::string::npos);
}

TEST(Progress, RedrawnLineOnATerminal) {
  FilePtr f = makeTmp();
  ProgressBar bar(4, f.get(), true, "denoise");
  bar.step(1, 2.0);
  bar.step(2, 1.0);
  bar.step(4, 2.0); // two steps at once
  bar.finish();
  // The rate excludes the first (warm-up) step once there are others:
  // (3.0 - 2.0) / 1 after step 2, (5.0 - 2.0) / 3 after step 4.
  EXPECT_EQ(contents(f.get()),
            "\rdenoise [###-------] 1/4  elapsed 2.0 s  2.00 s/step  eta 6.0 s"
            "\rdenoise [#####-----] 2/4  elapsed 3.0 s  1.00 s/step  eta 2.0 s"
            "\rdenoise [##########] 4/4  elapsed 5.0 s  1.00 s/step  eta 0.0 s"
            "\n");
}

TEST(Progress, ShorterLineBlanksThePreviousOne) {
  FilePtr f = makeTmp();
  {
    ProgressBar bar(3, f.get(), true, "x");
    bar.step(1, 6.0);
    bar.step(2, 1.0);
    // No finish(): the destructor ends the line.
  }
  EXPECT_EQ(contents(f.get()),
            "\rx [###-------] 1/3  elapsed 6.0 s  6.00 s/step  eta 12.0 s"
            "\rx [#######---] 2/3  elapsed 7.0 s  1.00 s/step  eta 1.0 s "
            "\n");
}

TEST(Progress, NothingBeforeTheFirstStep) {
  FilePtr f = makeTmp();
  {
    ProgressBar a(5, f.get(), true, "a");
    ProgressBar b(5, f.get(), false, "b");
    a.finish();
    b.finish();
  }
  EXPECT_EQ(contents(f.get()), "");
}

} // namespace
