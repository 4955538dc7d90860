//===- OpCheck.h - Load-time verification of one instruction ----*- C++ -*-===//
//
// The loader checks every instruction once: first against its row of
// runtime/schema/Ops.def (counts, attribute table, dtypes; verifyInstr), then
// against its op's shape rule, verify<Kernel> in the op's family file. After
// that the executor binds it without checking again.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_OPS_OPCHECK_H
#define FRESCO_RUNTIME_CORE_OPS_OPCHECK_H

#include "runtime/core/DType.h"
#include "runtime/core/Error.h"
#include "runtime/schema/OpTable.h"

#include <string>
#include <vector>

namespace fresco {

using Shape = std::vector<int64_t>;

/// A plan value as an instruction's rule sees it.
struct ValueInfo {
  DType dtype;
  Shape shape;
  int64_t numel() const { return numElements(shape); }
};

/// One instruction under verification; the row checks have passed when an
/// op's rule sees it.
class OpCheck {
public:
  OpCheck(const plan::Instr &in, const OpInfo &op, const plan::Function &f,
          const plan::RankProgram &rp, DType storage, std::string where);

  const plan::Instr &in;
  const OpInfo &op; // its row
  const plan::Function &f;
  const plan::RankProgram &rp;
  /// The plan's float storage: the dtype of its float values (F32 but for
  /// plans compiled for bf16/f16, whose timesteps alone stay F32).
  const DType storage;
  std::vector<ValueInfo> ops, res;

  /// Fails with "<where> (<Op>): <parts>" unless `cond`.
  template <typename... Parts> void need(bool cond, const Parts &...p) const {
    check(cond, where_, " (", op.name, "): ", p...);
  }
  /// Fails: the row names `family`, whose functions have no case for it.
  [[noreturn]] void notInFamily(const char *family) const;
  void shape(const ValueInfo &v, const Shape &want, const char *what) const {
    need(v.shape == want, what, " has shape ", shapeToString(v.shape),
         ", expected ", shapeToString(want));
  }
  /// The op's attributes; null only where Ops.def makes them optional.
  template <typename T> const T *attrs() const { return in.attrs_as<T>(); }
  /// Group members: sorted, distinct world ranks including this one.
  void members(const flatbuffers::Vector<int32_t> *m, const char *what) const;

private:
  std::string where_;
};

/// "the <family> family does not implement <op>": the message of a row
/// whose Kernel column names a family without a case for it.
std::string notInFamilyMessage(const char *family, const char *op);

/// OpRegistry::global().verify: verifies `in` (its value indices already
/// checked) against its row and its op's rule; throws fresco::Error naming
/// `where` and the problem.
void verifyInstr(const plan::Instr &in, const plan::Function &f,
                 const plan::RankProgram &rp, DType storage,
                 const std::string &where);

/// The function-level rule of asynchronous collectives: every AllToAll or
/// AllGather started asynchronously has one later Wait reading its result,
/// and nothing between them touches the result's bytes or communicates
/// other than more AllToAlls, AllGathers or StaleGathers over the same
/// members.
void verifyAsyncCollectives(const plan::Function &f, const std::string &ctx);

// The ops' rules, one per Kernel column of Ops.def.
#define FRESCO_OP(Name, Attrs, Use, MinOps, MaxOps, MinRes, MaxRes, DTypes,    \
                  Kernel)                                                      \
  void verify##Kernel(const OpCheck &c);
#include "runtime/schema/Ops.def"

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_OPS_OPCHECK_H
