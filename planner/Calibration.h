//===- Calibration.h - Measured instruction times ---------------*- C++ -*-===//
//
// fresco-run --calibrate times every compute instruction of a plan on one
// backend and writes one entry per op kind and shapes; the cost model
// reads the table back. A shape the table lacks takes its time from the
// entries of the same op by their work (FLOPs for GEMM-like ops, bytes for
// the rest): interpolated between the two nearest, or extrapolated at the
// largest entry's rate.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_PLANNER_CALIBRATION_H
#define FRESCO_PLANNER_CALIBRATION_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fresco::planner {

struct CalibrationEntry {
  std::string op, shape;
  double flops = 0, bytes = 0;
  double seconds = 0; // per call, the median of the runs
  int64_t calls = 0;  // how many timed calls it summarises
};

struct Calibration {
  std::string device, backend, storage = "f32", file;
  int threads = 0; // CPU threads per rank when measured (0: not a CPU)
  std::vector<CalibrationEntry> entries;

  /// Seconds of one call: the exact entry, else interpolated from the same
  /// op's entries by work; nothing when the op has no entry.
  std::optional<double> lookup(const std::string &op, const std::string &shape,
                               double flops, double bytes) const;
  std::string toJson() const;
};

Calibration parseCalibration(const std::string &text, const std::string &file);
Calibration loadCalibration(const std::string &path);

} // namespace fresco::planner

#endif // FRESCO_PLANNER_CALIBRATION_H
