//===- OpRegistry.h - Ops.def rows with their family functions --*- C++ -*-===//
//
// Each row of runtime/schema/Ops.def, with the load-time rule and the binder
// its Kernel column names. The loader verifies instructions through it and
// the executor binds them through it. global() is built from Ops.def; a
// test may build one with more rows the same way (FRESCO_OP_ENTRY) to see
// what a new row gets.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_OPS_OPREGISTRY_H
#define FRESCO_RUNTIME_CORE_OPS_OPREGISTRY_H

#include "runtime/core/ops/OpBind.h"

namespace fresco {

struct OpEntry {
  OpInfo info; // info.code is the row's position
  void (*verify)(const OpCheck &);
  Step (*bind)(OpBind &);
  const char *family; // the Kernel column
  /// Set by OpRegistry: `family` is named after another row, whose op it
  /// alone implements (families serving several ops are named for their
  /// kind: Unary, Binary, PointToPoint), so this row has no kernel.
  bool borrowsFamily = false;
};

/// One row of Ops.def as an OpEntry; expand inside a scope that uses
/// namespace fresco::optable (for None, Required, Float, Variadic, ...).
#define FRESCO_OP_ENTRY(Name, Attrs, Use, MinOps, MaxOps, MinRes, MaxRes,      \
                        DTypes, Kernel)                                        \
  ::fresco::OpEntry {                                                          \
    {::fresco::plan::OpCode(0),                                                \
     #Name,                                                                    \
     ::fresco::plan::OpAttrs::Attrs,                                           \
     Use,                                                                      \
     MinOps,                                                                   \
     MaxOps,                                                                   \
     MinRes,                                                                   \
     MaxRes,                                                                   \
     DTypes},                                                                  \
        &::fresco::verify##Kernel, &::fresco::bind##Kernel, #Kernel, false     \
  }

class OpRegistry {
public:
  /// Rows in op-code order: row i gets op code i, as the generated OpCode
  /// enum numbers Ops.def.
  explicit OpRegistry(std::vector<OpEntry> rows);

  /// The rows of runtime/schema/Ops.def.
  static const OpRegistry &global();

  /// The entry of `op`, or null for a value outside the table.
  const OpEntry *find(plan::OpCode op) const;
  size_t size() const { return rows_.size(); }

  /// Verifies `in` (its value indices already checked) against its row and
  /// its family's rule; throws fresco::Error naming `where` and the problem.
  void verify(const plan::Instr &in, const plan::Function &f,
              const plan::RankProgram &rp, DType storage,
              const std::string &where) const;
  /// The step of a verified instruction (sets b.op).
  Step bind(OpBind &b) const;

private:
  std::vector<OpEntry> rows_;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_OPS_OPREGISTRY_H
