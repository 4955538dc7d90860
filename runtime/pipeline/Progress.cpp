//===- Progress.cpp - Denoising progress display --------------------------===//
//
// Formatting only; the caller measures the time of each step.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/Progress.h"

#include <unistd.h>

#include <cstdarg>
#include <utility>

namespace fresco {

namespace {

constexpr int kBarWidth = 10;

void appendf(std::string &s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void appendf(std::string &s, const char *fmt, ...) {
  char buf[256];
  va_list args;
  va_start(args, fmt);
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  if (n > 0)
    s.append(buf, size_t(n) < sizeof(buf) ? size_t(n) : sizeof(buf) - 1);
}

} // namespace

bool isTerminal(std::FILE *f) { return f && ::isatty(::fileno(f)) == 1; }

ProgressBar::ProgressBar(int totalSteps, std::FILE *out, bool isTerminal,
                         std::string label)
    : total_(totalSteps), out_(out), terminal_(isTerminal),
      label_(std::move(label)) {}

ProgressBar::~ProgressBar() {
  if (terminal_ && lineOpen_ && !finished_)
    finish();
}

double ProgressBar::rate() const {
  if (done_ > firstDone_)
    return (elapsed_ - firstSeconds_) / (done_ - firstDone_);
  return done_ > 0 ? elapsed_ / done_ : 0.0;
}

void ProgressBar::step(int done, double stepSeconds) {
  if (!out_ || finished_)
    return;
  if (firstDone_ == 0) {
    firstDone_ = done;
    firstSeconds_ = stepSeconds;
  }
  done_ = done;
  elapsed_ += stepSeconds;

  std::string line;
  if (!terminal_) {
    if (!label_.empty())
      line += label_ + ": ";
    appendf(line, "step %d/%d, %.3f s, elapsed %.1f s\n", done_, total_,
            stepSeconds, elapsed_);
    std::fputs(line.c_str(), out_);
    std::fflush(out_);
    return;
  }

  int filled = total_ > 0 ? int((int64_t(kBarWidth) * done_ * 2 + total_) /
                                (int64_t(2) * total_))
                          : kBarWidth;
  filled = filled < 0 ? 0 : (filled > kBarWidth ? kBarWidth : filled);
  if (!label_.empty())
    line += label_ + " ";
  line += '[';
  line.append(size_t(filled), '#');
  line.append(size_t(kBarWidth - filled), '-');
  line += ']';
  const int left = total_ > done_ ? total_ - done_ : 0;
  appendf(line, " %d/%d  elapsed %.1f s  %.2f s/step  eta %.1f s", done_,
          total_, elapsed_, rate(), left * rate());
  // Blank out whatever remains of a longer previous line.
  const size_t width = line.size();
  if (width < lastWidth_)
    line.append(lastWidth_ - width, ' ');
  lastWidth_ = width;
  std::fputc('\r', out_);
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
  lineOpen_ = true;
}

void ProgressBar::finish() {
  if (!out_ || finished_)
    return;
  finished_ = true;
  if (terminal_) {
    if (lineOpen_)
      std::fputc('\n', out_);
  } else if (done_ > 0) {
    std::string line;
    if (!label_.empty())
      line += label_ + ": ";
    appendf(line, "%d steps in %.1f s (%.3f s/step)\n", done_, elapsed_,
            elapsed_ / done_);
    std::fputs(line.c_str(), out_);
  }
  std::fflush(out_);
}

} // namespace fresco
