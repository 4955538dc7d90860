//===- OpTable.h - Ops.def as data ------------------------------*- C++ -*-===//
//
// The generic part of each op's plan encoding, from runtime/schema/Ops.def:
// its attribute table, operand and result counts and dtype rule. Header
// only, on the generated schema alone, so that the runtime's loader and the
// compiler's plan emitter read the same rows.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_SCHEMA_OPTABLE_H
#define FRESCO_RUNTIME_SCHEMA_OPTABLE_H

#include "runtime/schema/plan_generated.h"

#include <cstdint>
#include <limits>

namespace fresco {

enum class AttrsUse : uint8_t { None, Optional, Required };
/// Float: every operand and result is a float tensor; Moves: data movement
/// of any dtype, operands as results; Custom: the op's shape rule checks.
enum class DTypeRule : uint8_t { Float, Moves, Custom };

struct OpInfo {
  plan::OpCode code;
  const char *name;
  plan::OpAttrs attrs; // NONE when it takes none
  AttrsUse attrsUse;
  uint32_t minOperands, maxOperands, minResults, maxResults;
  DTypeRule dtypes;
};

namespace optable {
constexpr uint32_t Variadic = std::numeric_limits<uint32_t>::max();
constexpr AttrsUse None = AttrsUse::None, Optional = AttrsUse::Optional,
                   Required = AttrsUse::Required;
constexpr DTypeRule Float = DTypeRule::Float, Moves = DTypeRule::Moves,
                    Custom = DTypeRule::Custom;

constexpr OpInfo kOps[] = {
#define FRESCO_OP(Name, Attrs, Use, MinOps, MaxOps, MinRes, MaxRes, DTypes,    \
                  Kernel)                                                      \
  {plan::OpCode::Name,                                                         \
   #Name,                                                                      \
   plan::OpAttrs::Attrs,                                                       \
   Use,                                                                        \
   MinOps,                                                                     \
   MaxOps,                                                                     \
   MinRes,                                                                     \
   MaxRes,                                                                     \
   DTypes},
#include "runtime/schema/Ops.def"
};
constexpr size_t kNumOps = sizeof(kOps) / sizeof(kOps[0]);

// Rows are in op-code order (the enum is generated from them).
constexpr bool rowsInOrder() {
  for (size_t i = 0; i < kNumOps; ++i)
    if (size_t(kOps[i].code) != i)
      return false;
  return true;
}
static_assert(rowsInOrder(), "Ops.def rows must be in op-code order");
static_assert(kNumOps == size_t(plan::OpCode::MAX) + 1,
              "every op code has a row in Ops.def");
} // namespace optable

/// The row of `op`, or null for a value outside the table (a corrupt plan).
inline const OpInfo *findOpInfo(plan::OpCode op) {
  size_t i = size_t(op);
  return i < optable::kNumOps ? &optable::kOps[i] : nullptr;
}

} // namespace fresco

#endif // FRESCO_RUNTIME_SCHEMA_OPTABLE_H
