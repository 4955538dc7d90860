//===- Predict.cpp - Predicted timelines of a compiled plan ---------------===//
#include "planner/Predict.h"
#include "planner/Collectives.h"
#include "planner/InstrWork.h"

#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace fresco::planner {

int Prediction::overMemory(uint64_t capacity) const {
  for (const RankMemory &m : memory)
    if (m.total() > capacity)
      return m.rank;
  return -1;
}

RankMemory rankMemory(const LoadedPlan &plan, int rank, DType storage) {
  // The rule fresco-inspect states: an f32 plan's floats take the run's
  // storage; a bf16/f16 plan's values carry their own dtypes.
  const bool planStored = DType(plan.plan().float_storage()) != DType::F32;
  RankMemory m;
  m.rank = rank;
  const plan::RankProgram &rp = plan.rank(rank);
  const std::vector<Fp8OnlyWeight> fp8Only = fp8OnlyWeights(rp);
  if (rp.weights())
    for (flatbuffers::uoffset_t i = 0; i < rp.weights()->size(); ++i) {
      const plan::WeightSlice *w = rp.weights()->Get(i);
      DType t = DType(w->dtype());
      if (t == DType::F32 && storage != DType::F32 && !planStored)
        t = storage;
      const uint64_t n =
          uint64_t(numElements({w->sizes()->begin(), w->sizes()->end()}));
      m.weightBytes += n * dtypeSize(t);
      // The executor quantizes them as it uploads them and keeps only that.
      if (fp8Only[i].only)
        m.releasedBytes += n * dtypeSize(storage);
    }
  m.arenaBytes = layOutArena(plan, rank, storage).bytes;
  // FP8 linears hold an e4m3 copy of their weight with a scale per output
  // channel (one per weight where only FP8 linears read it, else one per
  // linear), and share one input scratch: codes for the largest input and
  // a scale for the most rows.
  std::set<int32_t> quantized;
  int64_t maxCodes = 0, maxRows = 0;
  if (rp.functions())
    for (const plan::Function *f : *rp.functions())
      for (const plan::Instr *in : *f->instrs()) {
        int64_t rows, k, n;
        if (!fp8LinearDims(*f, *in, rows, k, n))
          continue;
        const plan::Value *w = f->values()->Get(in->operands()->Get(1));
        const bool once = w->kind() == plan::ValueKind::Weight &&
                          fp8Only.at(size_t(w->weight())).only;
        if (!once || quantized.insert(w->weight()).second)
          m.fp8Bytes += uint64_t(n * k + 4 * n);
        maxCodes = std::max(maxCodes, rows * k);
        maxRows = std::max(maxRows, rows);
      }
  m.fp8Bytes += uint64_t(maxCodes + 4 * maxRows);
  // PipeFusion's caches: one whole tensor per id, whichever functions
  // write it.
  std::set<int64_t> caches;
  if (rp.functions())
    for (const plan::Function *f : *rp.functions())
      for (const plan::Instr *in : *f->instrs()) {
        const bool stale = in->op() == plan::OpCode::StaleGather;
        const plan::PatchCacheAttrs *cache = in->attrs_as_PatchCacheAttrs();
        if (!stale && !(cache && caches.insert(cache->cache()).second))
          continue;
        const plan::Value &x = *f->values()->Get(in->operands()->Get(0));
        DType t = DType(x.dtype());
        if (t == DType::F32 && storage != DType::F32 && !planStored)
          t = storage;
        const uint64_t blocks =
            stale ? in->attrs_as_CollectiveAttrs()->members()->size() + 1
                  : uint64_t(cache->parts());
        m.staleStateBytes +=
            blocks *
            uint64_t(numElements({x.shape()->begin(), x.shape()->end()})) *
            dtypeSize(t);
      }
  return m;
}

namespace {

/// computeSeconds() of work already counted.
double secondsOf(const InstrWork &w, const PredictOptions &o,
                 bool *calibrated) {
  if (calibrated)
    *calibrated = false;
  if (!w.compute)
    return 0;
  // A ring's blocks together are one attention over every key.
  const std::string op = w.op == "RingAttention" ? "Attention" : w.op;
  const Calibration *c = o.calibration;
  if (c && c->storage == dtypeName(o.storage)) {
    if (auto s = c->lookup(op, w.shape, w.flops, w.bytes)) {
      if (calibrated)
        *calibrated = true;
      return *s;
    }
  }
  const Topology &t = *o.topology;
  const std::string rate = w.rate.empty() ? dtypeName(o.storage) : w.rate;
  double flopTime = w.flops / (t.peak(rate) * t.computeEfficiency);
  double byteTime = w.bytes / (t.memoryBandwidth * t.computeEfficiency);
  return std::max(flopTime, byteTime) + w.kernels * t.launchOverhead;
}

} // namespace

double computeSeconds(const plan::Function &f, const plan::Instr &in,
                      const PredictOptions &o, bool *calibrated) {
  return secondsOf(instrWork(f, in, o.storage), o, calibrated);
}

namespace {

std::string membersKey(const flatbuffers::Vector<int32_t> &m) {
  std::string s;
  for (int32_t r : m)
    s += std::to_string(r) + ",";
  return s;
}

/// One function's instruction streams on all its ranks, on simulated
/// clocks.
class Simulation {
public:
  /// `fresh`: stale gathers are waited for at once (patch=P's first
  /// steps), not carried to the function's end.
  Simulation(const LoadedPlan &plan, const std::string &function,
             const PredictOptions &o, bool fresh = false)
      : o_(o), topo_(*o.topology), name_(function), fresh_(fresh) {
    for (const plan::RankProgram *rp : *plan.plan().ranks())
      for (const plan::Function *f : *rp->functions())
        if (f->name()->str() == function) {
          Rank r;
          r.f = f;
          r.time.rank = rp->rank();
          index_[rp->rank()] = ranks_.size();
          ranks_.push_back(r);
        }
    // CPU ranks of a node share its cores: the launcher gives each
    // max(1, cores / n) threads, and past `cores` ranks they time-share,
    // except that only one pipeline stage computes at a time (the others
    // wait in a receive, off the cores).
    if (topo_.hostCores > 0) {
      std::map<int, int> perNode;
      for (const Rank &r : ranks_)
        ++perNode[topo_.node(r.time.rank)];
      int busiest = 0, launched = 0;
      for (auto &[node, n] : perNode)
        busiest = std::max(busiest, n);
      for (const plan::RankProgram *rp : *plan.plan().ranks())
        launched += topo_.node(rp->rank()) == 0;
      int stages = 1;
      const plan::Plan &pp = plan.plan();
      if (pp.grid_axes() && pp.grid_shape())
        for (flatbuffers::uoffset_t i = 0;
             i < pp.grid_axes()->size() && i < pp.grid_shape()->size(); ++i)
          if (pp.grid_axes()->Get(i)->str() == "pipeline")
            stages = int(pp.grid_shape()->Get(i));
      busiest = std::max(1, (busiest + stages - 1) / stages);
      // The calibration ran with `threads` threads (the roofline's peak
      // is the whole node's); a rank now gets min(threads, share) cores.
      double measured = o.calibration && o.calibration->threads > 0
                            ? o.calibration->threads
                            : topo_.hostCores;
      double share = double(topo_.hostCores) / busiest;
      // Threads are set by the launch, from every rank it starts.
      double threads =
          topo_.threadsPerRank > 0
              ? topo_.threadsPerRank
              : std::max(1, topo_.hostCores / std::max(1, launched));
      scale_ = measured / std::min(threads, share);
    }
  }

  FunctionTime run() {
    bool done = false;
    while (!done) {
      bool progress = false;
      done = true;
      for (Rank &r : ranks_) {
        progress |= advance(r);
        done &= r.pc >= r.f->instrs()->size() && !r.waiting;
      }
      // Ranks that hold their compute until a collective they started has
      // a start (to slow what runs beside it) go on without, when only
      // they could move.
      if (!done && !progress && !computeAhead_) {
        computeAhead_ = true;
        continue;
      }
      check(done || progress, "cost model: the ranks of '", name_,
            "' wait on each other forever (collectives out of order?)");
      computeAhead_ = false;
    }
    FunctionTime out;
    out.function = name_;
    for (Rank &r : ranks_) {
      // What is still in flight (a stale run's stale gathers) completes
      // before the function returns.
      for (auto &[id, end] : r.asyncEnd) {
        double exposed = std::max(0.0, end - r.clock);
        r.time.comm += exposed;
        r.time.hidden += std::max(0.0, r.asyncTime[id] - exposed);
        r.clock += exposed;
      }
      r.asyncEnd.clear();
      r.asyncStart.clear();
      r.time.end = r.clock;
      out.seconds = std::max(out.seconds, r.time.end);
    }
    for (Rank &r : ranks_) {
      // Finishing early is waiting for the slowest rank.
      r.time.idle += out.seconds - r.time.end;
      out.ranks.push_back(r.time);
    }
    out.roofline = roofline_;
    out.calibrated = calibrated_;
    return out;
  }

private:
  struct Rank {
    const plan::Function *f = nullptr;
    size_t pc = 0;
    double clock = 0, commFree = 0;
    RankTime time;
    std::map<int32_t, double> asyncEnd;   // result value -> completion
    std::map<int32_t, double> asyncTime;  // result value -> its duration
    std::map<int32_t, double> asyncStart; // result value -> its start
    int unresolvedStarts = 0;       // started collectives without a start yet
    std::map<std::string, int> seq; // per group: collectives seen
    bool waiting = false;           // arrived at an unresolved op
  };
  struct Pending {
    std::map<int, double> arrivals; // world rank -> clock
    std::map<int, int32_t> results; // world rank -> its result (async)
    std::vector<int> members;
    const plan::Instr *in = nullptr;
    const plan::Function *f = nullptr;
    bool async = false;
    bool resolved = false;
  };
  struct Message {
    double start = 0, duration = 0;
  };

  Rank &rank(int world) {
    auto it = index_.find(world);
    check(it != index_.end(), "cost model: function '", name_,
          "' talks to rank ", world, ", which does not run it");
    return ranks_[it->second];
  }

  double collectiveSeconds(const Pending &p) {
    const plan::Instr &in = *p.in;
    const plan::Function &f = *p.f;
    const Link &l = topo_.link(p.members);
    const int n = int(p.members.size());
    auto bytes = [&](int32_t id) { return instrBytes(f, id); };
    switch (in.op()) {
    case plan::OpCode::AllReduce:
      return allReduce(bytes(in.results()->Get(0)), n, l);
    case plan::OpCode::AllGather:
    case plan::OpCode::StaleGather:
      return allGather(bytes(in.results()->Get(0)), n, l);
    case plan::OpCode::AllToAll:
      return allToAll(bytes(in.operands()->Get(0)), n, l);
    case plan::OpCode::ReduceScatter: // the partial sums it reduces
      return reduceScatter(bytes(in.operands()->Get(0)), n, l);
    case plan::OpCode::Broadcast:
      return broadcast(bytes(in.results()->Get(0)), n, l);
    case plan::OpCode::Halo: {
      // Two ring shifts, every member at once: the block's last halo_lo
      // rows to the next member, then its first halo_hi rows back.
      const plan::CollectiveAttrs &a = *in.attrs_as_CollectiveAttrs();
      const int32_t x = in.operands()->Get(0);
      const double rows = double(f.values()->Get(x)->shape()->Get(a.dim()));
      double s = 0;
      for (int64_t h : {a.halo_lo(), a.halo_hi()})
        if (h > 0)
          s += sendRecv(bytes(x) * double(h) / rows, l);
      return s;
    }
    case plan::OpCode::GroupNorm: {
      // The members' statistics: a mean and an M2 (f32) per image and group.
      const plan::Value &x = *f.values()->Get(in.operands()->Get(0));
      const double stats = 2.0 * 4.0 * double(x.shape()->Get(0)) *
                           double(in.attrs_as_GroupNormAttrs()->num_groups());
      return allGather(stats * n, n, l);
    }
    default:
      fail("cost model: no time for collective ",
           plan::EnumNameOpCode(in.op()));
    }
  }

  double instrBytes(const plan::Function &f, int32_t id) {
    const plan::Value &v = *f.values()->Get(id);
    DType t = DType(v.dtype());
    if (t == DType::F32 && o_.storage != DType::F32)
      t = o_.storage;
    return double(numElements({v.shape()->begin(), v.shape()->end()})) *
           double(dtypeSize(t));
  }

  double compute(const plan::Function &f, const plan::Instr &in) {
    // A view (an in-place slice or concatenation) has no time to take from
    // either.
    const InstrWork w = instrWork(f, in, o_.storage);
    if (!w.compute)
      return 0;
    bool cal = false;
    double s = secondsOf(w, o_, &cal) * scale_;
    ++(cal ? calibrated_ : roofline_);
    return s;
  }

  void resolve(Pending &p) {
    p.resolved = true;
    double start = 0;
    for (auto &[w, t] : p.arrivals)
      start = std::max({start, t, rank(w).commFree});
    const plan::AttentionAttrs *ring = p.in->attrs_as_AttentionAttrs();
    if (ring) {
      // Every member computes its queries against every block.
      const int n = int(p.members.size());
      double block = compute(*p.f, *p.in) / n;
      double hopBytes = 2 * instrBytes(*p.f, p.in->operands()->Get(1));
      double total = ringAttention(block, hopBytes, n, topo_.link(p.members),
                                   topo_.overlapSlowdown);
      for (auto &[w, t] : p.arrivals) {
        Rank &r = rank(w);
        r.time.idle += start - t;
        r.time.compute += n * block;
        r.time.computeByOp[plan::EnumNameOpCode(p.in->op())] += n * block;
        r.time.comm += total - n * block;
        r.time.hidden += (n - 1) * sendRecv(hopBytes, topo_.link(p.members)) -
                         (total - n * block);
        r.clock = start + total;
        r.waiting = false;
      }
      return;
    }
    double d = collectiveSeconds(p);
    for (auto &[w, t] : p.arrivals) {
      Rank &r = rank(w);
      r.commFree = start + d;
      if (p.async) {
        --r.unresolvedStarts;
        r.asyncEnd[p.results.at(w)] = start + d;
        r.asyncStart[p.results.at(w)] = start;
        r.asyncTime[p.results.at(w)] = d;
        continue;
      }
      r.time.idle += start - t;
      r.time.comm += d;
      r.clock = start + d;
      r.waiting = false;
    }
  }

  /// Runs rank `r` until it blocks or ends; true when it moved.
  bool advance(Rank &r) {
    bool moved = false;
    const auto &instrs = *r.f->instrs();
    while (r.pc < instrs.size()) {
      const plan::Instr &in = *instrs.Get(r.pc);
      if (r.waiting) {
        // Resolved meanwhile (resolve() clears the flag).
        return moved;
      }
      const plan::CollectiveAttrs *c = in.attrs_as_CollectiveAttrs();
      const plan::AttentionAttrs *a = in.attrs_as_AttentionAttrs();
      const bool ring = a && a->ring_members() && a->ring_members()->size() > 1;
      const plan::GroupNormAttrs *gn = in.attrs_as_GroupNormAttrs();
      const bool splitNorm =
          gn && gn->stats_members() && gn->stats_members()->size() > 1;
      if (in.op() == plan::OpCode::Wait) {
        auto it = r.asyncEnd.find(in.operands()->Get(0));
        if (it == r.asyncEnd.end()) {
          if (!pendingAsync(r, in.operands()->Get(0)))
            ++r.pc, moved = true; // a collective run in place: nothing left
          else
            return moved; // its collective has not started yet
          continue;
        }
        double exposed = std::max(0.0, it->second - r.clock);
        double took = r.asyncTime[it->first];
        r.time.comm += exposed;
        r.time.hidden += std::max(0.0, took - exposed);
        r.clock += exposed;
        r.asyncStart.erase(it->first);
        r.asyncEnd.erase(it);
        ++r.pc;
        moved = true;
        continue;
      }
      if (in.op() == plan::OpCode::Send || in.op() == plan::OpCode::Recv) {
        const int self = r.time.rank;
        const int peer = c->members()->Get(c->peer());
        const bool send = in.op() == plan::OpCode::Send;
        std::string key = std::to_string(send ? self : peer) + ">" +
                          std::to_string(send ? peer : self) + "#" +
                          std::to_string(c->tag());
        if (send) {
          double bytes = instrBytes(*r.f, in.operands()->Get(0));
          Message m{r.clock, sendRecv(bytes, topo_.link({self, peer}))};
          messages_[key + "@" + std::to_string(r.seq[key]++)] = m;
          // The sender hands the message over and goes on.
          double l = topo_.link({self, peer}).latency;
          r.clock += l;
          r.time.comm += l;
        } else {
          auto it = messages_.find(key + "@" + std::to_string(r.seq[key]));
          if (it == messages_.end())
            return moved;
          ++r.seq[key];
          double ready = it->second.start + it->second.duration;
          double wait = std::max(0.0, ready - r.clock);
          double transfer = std::min(wait, it->second.duration);
          r.time.comm += transfer;
          r.time.idle += wait - transfer;
          r.clock += wait;
        }
        ++r.pc;
        moved = true;
        continue;
      }
      if (c || ring || splitNorm) {
        const flatbuffers::Vector<int32_t> &group0 = c ? *c->members()
                                                     : ring
                                                         ? *a->ring_members()
                                                         : *gn->stats_members();
        // A stale gather's copies (state, own block, staging) run first.
        if (splitNorm || in.op() == plan::OpCode::StaleGather) {
          // The norm runs on this rank's block, then its statistics are
          // gathered (the time of resolve()).
          double s = compute(*r.f, in);
          r.clock += s;
          r.time.compute += s;
          r.time.computeByOp[plan::EnumNameOpCode(in.op())] += s;
        }
        std::vector<int> members;
        for (int32_t m : group0)
          members.push_back(m);
        std::string group = membersKey(group0);
        std::string key = group + "#" + std::to_string(r.seq[group]++);
        Pending &p = pending_[key];
        p.members = members;
        p.in = &in;
        p.f = r.f;
        // A stale run's gather travels until the function returns (the
        // steady state; the first fresh_steps steps wait for it at once).
        p.async = c &&
                  (c->async_start() ||
                   (in.op() == plan::OpCode::StaleGather && !fresh_)) &&
                  topo_.asyncOverlap;
        p.arrivals[r.time.rank] = r.clock;
        if (p.async)
          p.results[r.time.rank] = in.results()->Get(0);
        ++r.pc;
        moved = true;
        if (!p.async)
          r.waiting = true;
        else {
          asyncPending_[{r.time.rank, in.results()->Get(0)}] = key;
          ++r.unresolvedStarts;
        }
        if (p.arrivals.size() == members.size())
          resolve(p);
        if (r.waiting)
          return moved;
        continue;
      }
      // Beside a started collective whose start is not known yet (a member
      // has not reached it), wait for it where another rank can move.
      if (topo_.overlapSlowdown > 0 && !computeAhead_ && startsUnknown(r))
        return moved;
      double s = besideStarted(r, compute(*r.f, in));
      r.clock += s;
      r.time.compute += s;
      r.time.computeByOp[plan::EnumNameOpCode(in.op())] += s;
      ++r.pc;
      moved = true;
    }
    return moved;
  }

  /// How long `work` seconds of compute take from r's clock on, at
  /// 1 / (1 + overlap_slowdown) of the rate while a collective r started
  /// runs beside it.
  double besideStarted(const Rank &r, double work) {
    const double k = topo_.overlapSlowdown;
    if (k <= 0 || work <= 0 || r.asyncEnd.empty())
      return work;
    std::vector<std::pair<double, double>> busy; // [start, end) after now
    for (auto &[id, end] : r.asyncEnd)
      if (end > r.clock)
        busy.emplace_back(std::max(r.clock, r.asyncStart.at(id)), end);
    std::sort(busy.begin(), busy.end());
    double now = r.clock, left = work;
    for (auto [from, to] : busy) {
      from = std::max(from, now);
      if (to <= from)
        continue;
      const double before = std::min(left, from - now); // full rate
      now += before, left -= before;
      if (left <= 0)
        break;
      const double during = std::min(left, (to - now) / (1 + k));
      now += during * (1 + k), left -= during;
      if (left <= 0)
        break;
    }
    return now + left - r.clock;
  }

  /// Whether r started a collective that has not started yet.
  bool startsUnknown(const Rank &r) const { return r.unresolvedStarts > 0; }

  /// Whether value `id` of rank `r` is the result of an asynchronous
  /// collective that has not started yet.
  bool pendingAsync(const Rank &r, int32_t id) const {
    auto it = asyncPending_.find({r.time.rank, id});
    return it != asyncPending_.end() && !pending_.at(it->second).resolved;
  }

  const PredictOptions &o_;
  const Topology &topo_;
  std::string name_;
  std::vector<Rank> ranks_;
  std::map<int, size_t> index_;
  std::map<std::string, Pending> pending_;
  std::map<std::pair<int, int32_t>, std::string> asyncPending_;
  // Set for a round where no rank could move otherwise: computes beside
  // collectives without a start yet run unslowed.
  bool computeAhead_ = false;
  std::map<std::string, Message> messages_;
  double scale_ = 1;
  int roofline_ = 0, calibrated_ = 0;
  bool fresh_ = false;
};

/// Whether some rank's program of `function` has a stale gather.
bool readsStaleBlocks(const plan::Plan &p, const std::string &function) {
  for (const plan::RankProgram *rp : *p.ranks())
    for (const plan::Function *f : *rp->functions())
      if (f->name()->str() == function)
        for (const plan::Instr *in : *f->instrs())
          if (in->op() == plan::OpCode::StaleGather)
            return true;
  return false;
}

} // namespace

Prediction predict(const LoadedPlan &plan, const PredictOptions &o) {
  const plan::Plan &p = plan.plan();
  check(o.topology != nullptr, "cost model: no topology");
  check(p.num_ranks() <= o.topology->ranks(), "plan ", plan.name(), " runs on ",
        p.num_ranks(), " ranks but topology '", o.topology->name, "' has ",
        o.topology->ranks());
  Prediction out;
  std::vector<std::string> names;
  if (p.pipeline()) {
    out.images = p.pipeline()->num_images();
    for (const plan::Component *c : *p.pipeline()->components())
      if (c->role() == plan::ComponentRole::Denoiser)
        out.denoiser = c->function()->str();
    if (p.pipeline()->warmup_function()) {
      out.warmup = p.pipeline()->warmup_function()->str();
      out.warmupSteps = p.pipeline()->fresh_steps();
    }
  }
  std::set<std::string> seen;
  if (!out.denoiser.empty()) {
    names.push_back(out.denoiser);
    seen.insert(out.denoiser);
  }
  for (const plan::RankProgram *rp : *p.ranks())
    for (const plan::Function *f : *rp->functions())
      if (seen.insert(f->name()->str()).second)
        names.push_back(f->name()->str());
  check(!names.empty(), "plan ", plan.name(), " has no functions");
  // Text encoders run on the negative prompts too under text CFG (counted
  // as the pipeline runs them by default, without --negative-prompt).
  std::set<std::string> twice;
  if (const plan::Pipeline *pl = p.pipeline()) {
    const plan::Conditioning *cond = pl->conditioning();
    const bool encodesNegatives =
        pl->sampler() &&
        pl->sampler()->guidance() == plan::GuidanceMode::TextCfg &&
        !(cond && cond->zero_negative_prompt());
    for (const plan::Component *c : *pl->components())
      if (encodesNegatives && c->role() == plan::ComponentRole::TextEncoder)
        twice.insert(c->function()->str());
  }
  for (const std::string &n : names) {
    out.functions.push_back(Simulation(plan, n, o).run());
    out.functions.back().calls = twice.count(n) ? 2 : 1;
  }
  // patch=P's first steps wait for their gathers: priced apart.
  if (!out.denoiser.empty() && out.warmup.empty() &&
      readsStaleBlocks(p, out.denoiser)) {
    out.warmup = out.denoiser;
    out.warmupSteps = p.pipeline()->fresh_steps();
    out.functions.push_back(Simulation(plan, out.denoiser, o, true).run());
    out.functions.back().fresh = true;
  }
  out.stepSeconds = out.functions.front().seconds;
  for (size_t i = 1; i < out.functions.size(); ++i) {
    const FunctionTime &f = out.functions[i];
    if (f.function == out.warmup)
      out.warmupSeconds = f.seconds; // in place of the first steps'
    else
      out.otherSeconds += f.calls * f.seconds;
  }
  for (const plan::RankProgram *rp : *p.ranks())
    out.memory.push_back(rankMemory(plan, rp->rank(), o.storage));
  return out;
}

namespace {
std::string ms(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s * 1e3);
  return buf;
}
std::string gib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", double(b) / 1073741824.0);
  return buf;
}
} // namespace

/// The step's compute on its busiest rank by op kind, largest first.
void describeByOp(std::ostream &os, const FunctionTime &f) {
  const RankTime *busiest = nullptr;
  for (const RankTime &r : f.ranks)
    if (!busiest || r.compute > busiest->compute)
      busiest = &r;
  if (!busiest || busiest->computeByOp.empty())
    return;
  std::vector<std::pair<double, std::string>> kinds;
  for (const auto &[op, s] : busiest->computeByOp)
    kinds.push_back({s, op});
  std::sort(kinds.rbegin(), kinds.rend());
  os << "  compute of rank " << busiest->rank << " by op:";
  for (const auto &[s, op] : kinds)
    os << " " << op << " " << ms(s);
  os << " ms\n";
}

std::string describe(const Prediction &p, int steps, const Topology &t) {
  std::ostringstream os;
  for (size_t i = 0; i < p.functions.size(); ++i) {
    const FunctionTime &f = p.functions[i];
    const bool step = i == 0;
    os << "function " << f.function << " ("
       << (step      ? (p.denoiser.empty()       ? "one call"
                        : p.warmup.empty()       ? "every step"
                        : p.warmup == p.denoiser ? "every step after the fresh ones"
                                                 : "every step after the warm-up")
           : f.fresh ? "the first " + std::to_string(p.warmupSteps) +
                           " step(s), fresh: their gathers waited for"
           : f.function == p.warmup
               ? "the first " + std::to_string(p.warmupSteps) +
                     " step(s): PipeFusion's warm-up"
           : f.calls == 2 ? "twice: prompts and negative prompts"
                          : "once")
       << "): " << ms(f.seconds) << " ms; " << f.calibrated
       << " instructions timed from the calibration, " << f.roofline
       << " by the roofline (over all ranks)\n";
    os << "  rank  compute ms  comm ms  idle ms  hidden comm ms\n";
    for (const RankTime &r : f.ranks) {
      char line[160];
      std::snprintf(line, sizeof line, "  %4d  %10s  %7s  %7s  %14s\n", r.rank,
                    ms(r.compute).c_str(), ms(r.comm).c_str(),
                    ms(r.idle).c_str(), ms(r.hidden).c_str());
      os << line;
    }
    if (step)
      describeByOp(os, f);
  }
  os << "memory per rank (weights + arena [+ FP8 copies - the weights only "
        "they read] [+ stale state]; "
     << gib(t.memoryBytes) << " GiB each on " << t.name << "):\n";
  for (const RankMemory &m : p.memory)
    os << "  rank " << m.rank << ": " << gib(m.weightBytes) << " + "
       << gib(m.arenaBytes)
       << (m.fp8Bytes ? " + " + gib(m.fp8Bytes) + " (FP8 copies)" : "")
       << (m.releasedBytes
               ? " - " + gib(m.releasedBytes) + " (their originals, released)"
               : "")
       << (m.staleStateBytes
               ? " + " + gib(m.staleStateBytes) + " (stale key/value blocks)"
               : "")
       << " GiB" << (m.total() > t.memoryBytes ? "  DOES NOT FIT" : "") << "\n";
  os << "predicted step " << ms(p.stepSeconds) << " ms";
  if (!p.denoiser.empty())
    os << "; " << steps << " steps"
       << (p.warmup.empty()         ? ""
           : p.warmup == p.denoiser ? " (the fresh ones' included)"
                                    : " (the warm-up's included)")
       << " + once-per-run functions: " << ms(p.imageSeconds(steps))
       << " ms per run of up to " << p.images << " image(s)";
  os << "\n";
  return os.str();
}

std::string toJson(const Prediction &p, int steps) {
  std::ostringstream os;
  os.precision(9);
  os << "{\"step_seconds\": " << p.stepSeconds
     << ", \"run_seconds\": " << p.imageSeconds(steps)
     << ", \"steps\": " << steps << ", \"images\": " << p.images
     << ", \"functions\": [";
  for (size_t i = 0; i < p.functions.size(); ++i) {
    const FunctionTime &f = p.functions[i];
    os << (i ? ", " : "") << "{\"function\": \"" << f.function
       << "\", \"seconds\": " << f.seconds
       << (f.fresh ? ", \"fresh\": true" : "")
       << ", \"calibrated\": " << f.calibrated
       << ", \"roofline\": " << f.roofline << ", \"ranks\": [";
    for (size_t j = 0; j < f.ranks.size(); ++j) {
      const RankTime &r = f.ranks[j];
      os << (j ? ", " : "") << "{\"rank\": " << r.rank
         << ", \"compute\": " << r.compute << ", \"comm\": " << r.comm
         << ", \"idle\": " << r.idle << ", \"hidden_comm\": " << r.hidden
         << ", \"compute_by_op\": {";
      bool first = true;
      for (const auto &[op, s] : r.computeByOp) {
        os << (first ? "" : ", ") << "\"" << op << "\": " << s;
        first = false;
      }
      os << "}}";
    }
    os << "]}";
  }
  os << "], \"memory\": [";
  for (size_t i = 0; i < p.memory.size(); ++i)
    os << (i ? ", " : "") << "{\"rank\": " << p.memory[i].rank
       << ", \"weight_bytes\": " << p.memory[i].weightBytes
       << ", \"fp8_bytes\": " << p.memory[i].fp8Bytes
       << ", \"released_bytes\": " << p.memory[i].releasedBytes
       << ", \"arena_bytes\": " << p.memory[i].arenaBytes << "}";
  os << "]}\n";
  return os.str();
}

} // namespace fresco::planner
