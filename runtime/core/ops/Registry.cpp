//===- Registry.cpp - Ops.def rows to their rules and binders -------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/OpRegistry.h"

#include <algorithm>
#include <cstring>

namespace fresco {
namespace {

constexpr int32_t kMaxGroupRank = 1 << 20;

std::vector<OpEntry> opsDefRows() {
  using namespace optable;
  return {
#define FRESCO_OP(...) FRESCO_OP_ENTRY(__VA_ARGS__),
#include "runtime/schema/Ops.def"
  };
}

std::string attrsName(plan::OpAttrs t) {
  const char *n = plan::EnumNameOpAttrs(t);
  return n && *n ? n : "attribute table " + std::to_string(int(t));
}

std::string count(uint32_t lo, uint32_t hi) {
  if (lo == hi)
    return std::to_string(lo);
  if (hi == optable::Variadic)
    return "at least " + std::to_string(lo);
  return "between " + std::to_string(lo) + " and " + std::to_string(hi);
}

ValueInfo info(const plan::Function &f, int32_t id) {
  const plan::Value *v = f.values()->Get(uint32_t(id));
  return {DType(v->dtype()), Shape(v->shape()->begin(), v->shape()->end())};
}

} // namespace

OpCheck::OpCheck(const plan::Instr &in, const OpInfo &op,
                 const plan::Function &f, const plan::RankProgram &rp,
                 DType storage, std::string where)
    : in(in), op(op), f(f), rp(rp), storage(storage), where_(std::move(where)) {
  for (int32_t id : *in.operands())
    ops.push_back(info(f, id));
  for (int32_t id : *in.results())
    res.push_back(info(f, id));
}

void OpCheck::members(const flatbuffers::Vector<int32_t> *m,
                      const char *what) const {
  need(m && m->size() >= 1, what, " has no members");
  bool member = false;
  for (uint32_t i = 0; i < m->size(); ++i) {
    int32_t r = m->Get(i);
    need(r >= 0 && (i == 0 || m->Get(i - 1) < r), what,
         " members must be sorted, distinct world ranks");
    // World ranks are checked against the run's when the group is made;
    // this bound keeps size arithmetic on member counts exact.
    need(r < kMaxGroupRank, what, " member ", r, " is not a plausible rank");
    member |= r == rp.rank();
  }
  need(member, "this rank (", rp.rank(), ") is not a member of its ", what);
}

std::string notInFamilyMessage(const char *family, const char *op) {
  return std::string("the ") + family + " family does not implement " + op +
         " (its row in runtime/schema/Ops.def names " + family +
         ", whose verify" + family + " and bind" + family +
         " have no case for it)";
}

void OpCheck::notInFamily(const char *family) const {
  fail(where_, " (", op.name, "): ", notInFamilyMessage(family, op.name));
}

void OpBind::notInFamily(const char *family) const {
  fail(where, " (", opName(), "): ", notInFamilyMessage(family, opName()));
}

OpRegistry::OpRegistry(std::vector<OpEntry> rows) : rows_(std::move(rows)) {
  for (size_t i = 0; i < rows_.size(); ++i) {
    OpEntry &e = rows_[i];
    e.info.code = plan::OpCode(i);
    for (const OpEntry &o : rows_)
      e.borrowsFamily |= &o != &e && std::strcmp(o.info.name, e.family) == 0;
  }
}

const OpRegistry &OpRegistry::global() {
  static const OpRegistry r(opsDefRows());
  return r;
}

const OpEntry *OpRegistry::find(plan::OpCode op) const {
  size_t i = size_t(op);
  return i < rows_.size() ? &rows_[i] : nullptr;
}

void OpRegistry::verify(const plan::Instr &in, const plan::Function &f,
                        const plan::RankProgram &rp, DType storage,
                        const std::string &where) const {
  const OpEntry *entry = find(in.op());
  check(entry != nullptr, where, ": unknown op code ", int(in.op()));
  const OpInfo *op = &entry->info;
  OpCheck c(in, *op, f, rp, storage, where);
  const uint32_t nOps = uint32_t(c.ops.size()), nRes = uint32_t(c.res.size());
  c.need(nOps >= op->minOperands && nOps <= op->maxOperands, "takes ",
         count(op->minOperands, op->maxOperands), " operands, got ", nOps);
  c.need(nRes >= op->minResults && nRes <= op->maxResults, "takes ",
         count(op->minResults, op->maxResults), " results, got ", nRes);
  const plan::OpAttrs got = in.attrs_type();
  switch (op->attrsUse) {
  case AttrsUse::None:
    c.need(got == plan::OpAttrs::NONE, "takes no attributes, got ",
           attrsName(got));
    break;
  case AttrsUse::Optional:
    c.need(got == plan::OpAttrs::NONE || got == op->attrs,
           "attributes must be ", attrsName(op->attrs), " or none, got ",
           attrsName(got));
    break;
  case AttrsUse::Required:
    c.need(got == op->attrs, "attributes must be ", attrsName(op->attrs),
           ", got ", got == plan::OpAttrs::NONE ? "none" : attrsName(got));
    break;
  }
  // A union's type tag may be set with its table missing: the verifiers
  // dereference attributes whose tag matches.
  c.need(got == plan::OpAttrs::NONE || in.attrs() != nullptr,
         "attributes tagged ", attrsName(got), " but missing");
  // Kernels cast pointers by these dtypes: a crafted plan must not make
  // one write past a smaller buffer.
  switch (op->dtypes) {
  case DTypeRule::Float:
    for (const auto *vs : {&c.ops, &c.res})
      for (const ValueInfo &v : *vs)
        c.need(v.dtype == c.storage, vs == &c.ops ? "operands" : "results",
               " must be ", dtypeName(c.storage), ", got ", dtypeName(v.dtype));
    break;
  case DTypeRule::Moves:
    for (const ValueInfo &v : c.ops)
      c.need(c.res.empty() || v.dtype == c.res[0].dtype,
             "operand and result dtypes differ");
    break;
  case DTypeRule::Custom:
    break;
  }
  if (entry->borrowsFamily)
    c.notInFamily(entry->family);
  entry->verify(c);
}

void verifyInstr(const plan::Instr &in, const plan::Function &f,
                 const plan::RankProgram &rp, DType storage,
                 const std::string &where) {
  OpRegistry::global().verify(in, f, rp, storage, where);
}

Communicator &OpBind::group(const flatbuffers::Vector<int32_t> *m) {
  check(bool(groups), where, " (", opName(),
        "): the plan has collectives but the runtime was started without a "
        "communicator");
  comm = &groups(std::vector<int>(m->begin(), m->end()));
  return *comm;
}

Step OpRegistry::bind(OpBind &b) const {
  const OpEntry *entry = find(b.in.op());
  check(entry != nullptr, b.where, ": unknown op code ", int(b.in.op()));
  const OpInfo &op = entry->info;
  b.op = &op;
  if (op.dtypes == DTypeRule::Moves)
    for (const Ref &r : b.ops)
      check(b.res.empty() || r.es == b.res[0].es, b.where, " (", op.name,
            "): operand and result are stored with different element sizes");
  if (entry->borrowsFamily)
    b.notInFamily(entry->family);
  return entry->bind(b);
}

Step bindInstr(OpBind &b) { return OpRegistry::global().bind(b); }

} // namespace fresco
