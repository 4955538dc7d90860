//===- Progress.h - Denoising progress display ------------------*- C++ -*-===//
//
// On a terminal, one line redrawn in place with '\r':
//
//   label [#####-----] 12/25  elapsed 3.2 s  0.13 s/step  eta 1.7 s
//
// Anywhere else (a log file, a pipe, CI), one plain line per step and a
// summary, with no '\r' or escape codes:
//
//   label: step 12/25, 0.130 s, elapsed 3.2 s
//   label: 25 steps in 3.3 s (0.132 s/step)
//
// "elapsed" is the sum of the step times passed to step(). The rate shown
// and used for the ETA is the mean over the steps after the first, because
// the first step carries one-time costs (page faults on mmapped weights,
// allocator warm-up); while only one step is done, it is that step's time.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_PROGRESS_H
#define FRESCO_RUNTIME_PIPELINE_PROGRESS_H

#include <cstdio>
#include <string>

namespace fresco {

/// True when `f` is attached to a terminal (isatty).
bool isTerminal(std::FILE *f);

class ProgressBar {
public:
  /// `label` may be empty. Nothing is printed until the first step().
  ProgressBar(int totalSteps, std::FILE *out, bool isTerminal,
              std::string label);
  /// Ends an unfinished terminal line so later output starts on its own line.
  ~ProgressBar();
  ProgressBar(const ProgressBar &) = delete;
  ProgressBar &operator=(const ProgressBar &) = delete;

  /// Reports that `done` steps (1-based, cumulative) are complete and that
  /// the steps since the previous call took `stepSeconds`.
  void step(int done, double stepSeconds);
  /// The number of steps, when the sampler's differs from the one given at
  /// construction (PNDM's warm-up calls, a spacing that drops a step).
  void setTotal(int totalSteps) { total_ = totalSteps; }
  /// Ends the terminal line, or prints the summary line; idempotent.
  void finish();

private:
  double rate() const;

  int total_;
  std::FILE *out_;
  bool terminal_;
  std::string label_;
  int done_ = 0;
  double elapsed_ = 0;
  int firstDone_ = 0;       ///< `done` at the first step() call.
  double firstSeconds_ = 0; ///< Its time: excluded from the rate.
  size_t lastWidth_ = 0;    ///< Length of the line on screen, for erasing.
  bool lineOpen_ = false;
  bool finished_ = false;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_PROGRESS_H
