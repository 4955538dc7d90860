//===- Plan.h - Loading and verifying a plan --------------------*- C++ -*-===//
//
// Two-stage verification: the FlatBuffers verifier proves every offset in
// the file is safe to follow; then verifyPlan checks meaning (indices,
// shapes, arena offsets, weight slices) with overflow-safe arithmetic, and
// every instruction against its row of runtime/schema/Ops.def and its op's
// shape rule (runtime/core/ops/). The executor then checks only what
// depends on the run (element sizes under bf16/f16 storage, the f32
// timesteps, the communicators). A plan that passes never makes a kernel
// read or write outside its buffers.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_PLAN_H
#define FRESCO_RUNTIME_CORE_PLAN_H

#include "runtime/schema/plan_generated.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fresco {

class OpRegistry;

class LoadedPlan {
public:
  /// Reads and verifies `path`; throws fresco::Error naming the problem.
  static LoadedPlan fromFile(const std::string &path);
  /// Verifies `bytes` (taken over); `name` is used in messages.
  static LoadedPlan fromBytes(std::vector<uint8_t> bytes,
                              const std::string &name);
  /// As above, verifying instructions against `ops` instead of Ops.def's
  /// rows (a test's table with more rows).
  static LoadedPlan fromBytes(std::vector<uint8_t> bytes,
                              const std::string &name, const OpRegistry &ops);

  const plan::Plan &plan() const { return *plan::GetPlan(bytes_.data()); }
  const plan::RankProgram &rank(int r) const;
  /// The function called `name` on rank `r`; an error lists the available
  /// names when it is missing.
  const plan::Function &function(int r, const std::string &name) const;
  const std::string &name() const { return name_; }
  size_t byteSize() const { return bytes_.size(); }

private:
  std::vector<uint8_t> bytes_;
  std::string name_;
};

/// Every check fromBytes makes, for callers built without exceptions
/// (fresco-compile checks what it is about to write): the message of the
/// first failure, or empty when the plan loads.
std::string checkPlanBytes(const std::vector<uint8_t> &bytes,
                           const std::string &name) noexcept;

/// Stage 2: semantic checks; throws fresco::Error with `name` and the path
/// to the bad field (e.g. "rank 0, function 'transformer', value 12").
void verifyPlan(const plan::Plan &p, const std::string &name);
void verifyPlan(const plan::Plan &p, const std::string &name,
                const OpRegistry &ops);

/// The schema's vectors of 8-byte elements ("Table.field"), whose alignment
/// fromBytes checks (the FlatBuffers verifier does not); a unit test keeps
/// the list equal to runtime/schema/plan.fbs.
const std::vector<std::string> &eightByteVectorFields();

/// Where the first instruction `op` of `p` is ("function 'unet' on rank
/// 1"), or empty when no function of any rank holds one (a StaleGather:
/// plan version 15, patch=P; a PatchCache: 16, pipefusion).
std::string findOp(const plan::Plan &p, plan::OpCode op);

/// Bytes of a value (numel * element size); assumes a verified plan.
uint64_t valueBytes(const plan::Value &v);

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_PLAN_H
