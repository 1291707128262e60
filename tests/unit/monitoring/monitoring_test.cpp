// Tests of the progress line: content, ETA, in-place vs periodic output.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "l2face/monitoring/progress.h"

using namespace l2face::monitoring;

namespace {
std::string capture(bool interactive, int updates) {
  std::FILE* f = std::tmpfile();
  {
    ProgressLine p(f, interactive);
    for (int i = 1; i <= updates; ++i) {
      ProgressSnapshot s;
      s.step = i * 10;
      s.total_steps = 100;
      s.elapsed_seconds = i * 5.0;
      p.update(s);
    }
  }
  std::rewind(f);
  std::string out;
  int c;
  while ((c = std::fgetc(f)) != EOF) out.push_back(static_cast<char>(c));
  std::fclose(f);
  return out;
}
}  // namespace

TEST(Progress, FormatsStepLossAndEta) {
  ProgressSnapshot s;
  s.step = 25;
  s.total_steps = 100;
  s.epoch = 1;
  s.loss = 2.5;
  s.accuracy = 0.5;
  s.images_per_second = 123;
  s.elapsed_seconds = 50;  // 2 s/step, 75 steps left -> 150 s
  std::string line = ProgressLine::format(s);
  EXPECT_NE(line.find("step 25/100"), std::string::npos) << line;
  EXPECT_NE(line.find("loss 2.5000"), std::string::npos) << line;
  EXPECT_NE(line.find(" 50.0%"), std::string::npos) << line;
  EXPECT_NE(line.find("123 img/s"), std::string::npos) << line;
  EXPECT_NE(line.find("eta 2m30s"), std::string::npos) << line;
  EXPECT_EQ(ProgressLine::formatDuration(7322), "2h02m");
}

TEST(Progress, PeriodicLinesWhenNotATerminal) {
  std::string out = capture(false, 3);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3);
  EXPECT_EQ(out.find('\r'), std::string::npos);
}

TEST(Progress, InPlaceOnATerminal) {
  std::string out = capture(true, 3);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\r'), 3);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);  // closed once at the end
}

TEST(Progress, PauseEndsTheLineHoldsUpdatesAndRedrawsTheNewest) {
  std::FILE* f = std::tmpfile();
  {
    ProgressLine p(f, /*interactive=*/true);
    ProgressSnapshot s;
    s.total_steps = 100;
    s.step = 10;
    p.update(s);
    {
      auto outer = p.pause();
      std::fputs("table\n", f);
      {
        auto inner = p.pause();  // nested: still one line break, still held
        s.step = 20;
        p.update(s);
      }
      s.step = 30;
      p.update(s);
      std::fputs("more\n", f);
    }
    ProgressLine::Pause none(nullptr);  // ranks without a progress line
  }
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out.push_back(static_cast<char>(c));
  std::fclose(f);
  // The step-10 line is closed before "table"; step 20 is never drawn; step 30 after "more".
  const size_t ten = out.find("step 10/100"), table = out.find("\ntable\nmore\n");
  ASSERT_NE(ten, std::string::npos) << out;
  ASSERT_NE(table, std::string::npos) << out;
  EXPECT_LT(ten, table);
  EXPECT_EQ(out.find("step 20/100"), std::string::npos) << out;
  EXPECT_GT(out.find("step 30/100"), table) << out;
  EXPECT_EQ(out.back(), '\n');
}
