//===- Async.cpp - Asynchronous collectives: Wait and the window rule -----===//
//
// The compiler (fresco-place-waits) marks an all_to_all, all_gather or
// all_reduce async_start and puts a Wait before the first instruction that
// must not run while it travels. The loader checks that window once, so the
// executor binds it as written.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Plan.h"
#include "runtime/core/ops/OpBind.h"

#include <map>

namespace fresco {
namespace {

bool startsAsync(const plan::Instr &in) {
  const plan::CollectiveAttrs *a = in.attrs_as_CollectiveAttrs();
  return a && a->async_start();
}

/// Whether the instruction talks to other ranks.
bool communicates(const plan::Instr &in) {
  if (in.attrs_as_CollectiveAttrs())
    return true;
  // A group norm split across ranks gathers its statistics.
  const plan::GroupNormAttrs *g = in.attrs_as_GroupNormAttrs();
  if (g && g->stats_members() && g->stats_members()->size() > 1)
    return true;
  const plan::AttentionAttrs *a = in.attrs_as_AttentionAttrs();
  return a && a->ring_members() && a->ring_members()->size() > 1;
}

/// The collectives that may run inside an asynchronous one's window when
/// over the same members: they go through the same communicator, queued in
/// the same order on every member (a StaleGather as a gather). All but the
/// StaleGather may also start asynchronously.
bool isExchange(plan::OpCode op) {
  return op == plan::OpCode::AllToAll || op == plan::OpCode::AllGather ||
         op == plan::OpCode::AllReduce || op == plan::OpCode::StaleGather;
}

std::vector<int32_t> members(const plan::Instr &in) {
  const plan::CollectiveAttrs *a = in.attrs_as_CollectiveAttrs();
  return a && a->members()
             ? std::vector<int32_t>(a->members()->begin(), a->members()->end())
             : std::vector<int32_t>();
}

/// An arena value's bytes in the plan's layout.
struct Bytes {
  uint64_t begin = 0, end = 0;
  bool overlaps(const Bytes &o) const { return begin < o.end && o.begin < end; }
};

Bytes bytesOf(const plan::Function &f, int32_t id) {
  const plan::Value *v = f.values()->Get(uint32_t(id));
  if (v->kind() != plan::ValueKind::Arena)
    return {};
  return {v->offset(), v->offset() + valueBytes(*v)};
}

} // namespace

void verifyWait(const OpCheck &) {
  // Which collective it completes is the function-level rule below.
}

Step bindWait(OpBind &b) { return b.awaited; }

void verifyAsyncCollectives(const plan::Function &f, const std::string &ctx) {
  const uint32_t n = f.instrs()->size();
  std::map<int32_t, uint32_t> started; // result -> instruction, not waited
  auto where = [&](uint32_t i) {
    const plan::Instr &in = *f.instrs()->Get(i);
    return ctx + ", instruction " + std::to_string(i) + " (" +
           plan::EnumNameOpCode(in.op()) + ")";
  };
  for (uint32_t i = 0; i < n; ++i) {
    const plan::Instr &in = *f.instrs()->Get(i);
    if (in.op() == plan::OpCode::Wait) {
      const int32_t id = in.operands()->Get(0);
      auto it = started.find(id);
      check(it != started.end(), where(i), ": waits for value ", id,
            ", which no earlier asynchronous AllToAll, AllGather or AllReduce "
            "still in flight produces");
      started.erase(it);
      continue;
    }
    if (!startsAsync(in))
      continue;
    check(isExchange(in.op()) && in.op() != plan::OpCode::StaleGather, where(i),
          ": only an AllToAll, AllGather or AllReduce starts asynchronously");
    const int32_t r = in.results()->Get(0);
    const Bytes rb = bytesOf(f, r);
    // The window: up to the Wait that reads r.
    uint32_t j = i + 1;
    for (; j < n; ++j) {
      const plan::Instr &next = *f.instrs()->Get(j);
      if (next.op() == plan::OpCode::Wait && next.operands()->Get(0) == r)
        break;
      for (auto *ids : {next.operands(), next.results()})
        for (int32_t id : *ids)
          check(id != r && !bytesOf(f, id).overlaps(rb), where(j),
                ": touches value ", id, ", the result of the asynchronous ",
                plan::EnumNameOpCode(in.op()), " at instruction ", i,
                ", before its Wait");
      check(!communicates(next) ||
                (isExchange(next.op()) && members(next) == members(in)),
            where(j), ": communicates while the asynchronous ",
            plan::EnumNameOpCode(in.op()), " at instruction ", i,
            " is in flight (only more exchanges over the same members may)");
    }
    check(j < n, where(i), ": started asynchronously but never waited for");
    started[r] = i;
  }
}

} // namespace fresco
