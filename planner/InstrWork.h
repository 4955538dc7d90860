//===- InstrWork.h - What one plan instruction computes and moves -*- C++
//-*-===//
//
// The calibration table's key (op kind and shapes) and the work the cost
// model scales by: floating-point operations and bytes read and written,
// counted from the instruction's operand and result shapes.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_PLANNER_INSTRWORK_H
#define FRESCO_PLANNER_INSTRWORK_H

#include "runtime/core/DType.h"
#include "runtime/schema/plan_generated.h"

#include <cstdint>
#include <string>

namespace fresco::planner {

struct InstrWork {
  std::string op;          // the op code's name; "RingAttention" for a ring
  std::string shape;       // "2x16x32,64x32->2x16x64" (+ ":h4" for attention)
  double flops = 0;        // floating-point operations
  double bytes = 0;        // operand and result bytes under `storage`
  bool collective = false; // moves data between ranks (timed by links)
  bool compute = true;     // false: a Wait or a view (no time of its own)
  /// The peak_TFLOPS key its FLOPs run at ("" = the run's float storage):
  /// "fp8" for an FP8 linear.
  std::string rate;
  int kernels = 1; // launches: an FP8 linear quantizes its input first
};

/// `storage`: the run's float storage (f32 plans may run in bf16).
InstrWork instrWork(const plan::Function &f, const plan::Instr &in,
                    DType storage);

/// Ops whose time follows their FLOPs (GEMMs, convolutions, attention);
/// the rest follow their bytes. An FP8 linear is "LinearFp8", so that a
/// calibration table times it apart from bf16 linears.
bool flopBound(const std::string &op);

} // namespace fresco::planner

#endif // FRESCO_PLANNER_INSTRWORK_H
