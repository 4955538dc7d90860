//===- PlanCollectiveTest.cpp - Plans with collectives --------------------===//
//
// AllToAll, the asynchronous all_gather and all_reduce, the Halo, the
// ReduceScatter and the split GroupNorm (also over rows padded to split
// evenly: valid_rows) run by the executor against stand-in communicators
// that show how blocks were packed and when the collectives read their
// buffers.
//
//===----------------------------------------------------------------------===//
#include "test/unit/PlanTestUtil.h"

#include "runtime/comm/Communicator.h"

#include <cmath>
#include <cstring>

using namespace fresco;
using namespace fresco::plantest;
namespace fp = fresco::plan;

namespace {

/// A 2-member stand-in whose peer sends back exactly what it receives, so
/// recv block i = send block i: the result shows how the executor packed
/// and unpacked the blocks.
class MirrorComm : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int globalRank(int i) const override { return i; }
  std::unique_ptr<Communicator> subgroup(const std::vector<int> &,
                                         const std::string &) override {
    return nullptr;
  }
  void allReduceSum(float *, size_t) override {}
  void allGather(const void *, void *, size_t) override {}
  void reduceScatterSum(const float *, float *, size_t) override {}
  void allToAll(const void *send, void *recv, size_t bytes) override {
    std::memcpy(recv, send, 2 * bytes);
  }
  // The peer echoes a send: the next recv gets it back.
  void send(const void *data, size_t bytes, int, int) override {
    const auto *p = static_cast<const uint8_t *>(data);
    echo.assign(p, p + bytes);
  }
  void recv(void *data, size_t bytes, int, int) override {
    if (bytes != echo.size())
      fail("MirrorComm: recv of ", bytes, " bytes after a send of ",
           echo.size());
    std::memcpy(data, echo.data(), bytes);
  }
  std::vector<uint8_t> echo;
  // From oneself, or from the peer that echoes what it was sent: recv is
  // send. Anything else has no answer in a fake of two.
  void sendRecv(const void *send, int to, void *recv, int from, size_t bytes,
                int) override {
    if (to != from)
      fail("MirrorComm: sendRecv to member ", to, " and from member ", from,
           " is not supported by this fake (only to == from)");
    if (bytes)
      std::memcpy(recv, send, bytes);
  }
  void broadcast(void *, size_t, int) override {}
  void barrier() override {}
  bool usesDeviceMemory() const override { return device; }
  bool device = false; // as NCCL: exchanges the backend's own memory
};

/// The executor's three memory paths: host memory; device memory staged
/// through the host; device memory exchanged directly.
constexpr const char *kMemoryPaths[] = {"cpu", "cpu-staged",
                                        "cpu-staged-direct"};

/// Runs function "f" of rank 0 of `p` on memory path `path` over `comm`.
std::vector<HostTensor> runOnPath(const LoadedPlan &p, const char *path,
                                  MirrorComm &comm,
                                  const std::vector<HostTensor> &inputs) {
  WeightStore weights(p.rank(0), "/nonexistent");
  comm.device = std::string(path) == "cpu-staged-direct";
  auto backend = std::string(path) == "cpu" ? createCpuBackend()
                                            : createStagedCpuBackend();
  Executor exec(
      p, 0, *backend, weights,
      [&](const std::vector<int> &) -> Communicator & { return comm; });
  return exec.run("f", inputs);
}

TEST(Plan, AllToAllPacksBlocks) {
  LoadedPlan p = LoadedPlan::fromBytes(allToAllSpec().build(), "a2a.fplan");
  for (const char *name : kMemoryPaths) {
    SCOPED_TRACE(name);
    MirrorComm comm;
    HostTensor x{DType::F32, {2, 4, 6}, std::vector<uint8_t>(4 * 48)};
    for (int i = 0; i < 48; ++i)
      x.as<float>()[i] = float(i);
    std::vector<HostTensor> out = runOnPath(p, name, comm, {x});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 8, 3}));
    // Block j is x[:, :, 3j:3j+3]; received block j lands at y[:, 4j:4j+4].
    for (int b = 0; b < 2; ++b)
      for (int j = 0; j < 2; ++j)
        for (int t = 0; t < 4; ++t)
          for (int d = 0; d < 3; ++d)
            EXPECT_EQ(out[0].as<float>()[(b * 8 + j * 4 + t) * 3 + d],
                      x.as<float>()[(b * 4 + t) * 6 + j * 3 + d]);
  }
}

// A Halo on member 0 of 2, whose peer echoes: as the first member it only
// sends down (its last block row, which the peer echoes back into its
// bottom halo) and only receives from below (it has no member above: its
// top halo stays as it was). On the three memory paths, with the result in
// its own storage and in the operand's. With valid_rows (version 18) the
// rows of global index valid_rows or later (buffer row j is global row
// j - 1) are then zeroed, the echoed bottom halo among them; the top halo
// (global row -1) keeps what the operand had; valid_rows at the whole
// tensor's rows (2 blocks of 3) zeroes nothing, 0 means none is padding.
TEST(Plan, HaloPacksSlabsAndZeroesPaddingOnEveryMemoryPath) {
  for (int64_t valid : {0, 1, 2, 3, 6})
    for (bool shared : {false, true})
      for (const char *name : kMemoryPaths) {
        SCOPED_TRACE(std::string(name) + (shared ? " shared" : "") +
                     " valid_rows " + std::to_string(valid));
        PlanSpec spec = haloSpec(1, 1); // x [1, 2, 5, 3] along dimension 2
        spec.instrs[0].validRows = valid;
        if (shared)
          spec.values[1].offset = 0;
        LoadedPlan p = LoadedPlan::fromBytes(spec.build(), "halo.fplan");
        MirrorComm comm;
        HostTensor x{DType::F32, {1, 2, 5, 3}, std::vector<uint8_t>(4 * 30)};
        for (int i = 0; i < 30; ++i) // halo rows (0 and 4) hold -1
          x.as<float>()[i] =
              (i / 3) % 5 == 0 || (i / 3) % 5 == 4 ? -1.0f : float(i + 1);
        std::vector<HostTensor> out = runOnPath(p, name, comm, {x});
        ASSERT_EQ(out.size(), 1u);
        for (int c = 0; c < 2; ++c)
          for (int row = 0; row < 5; ++row)
            for (int w = 0; w < 3; ++w) {
              // The bottom halo (row 4) holds the last block row (row 3).
              const int from = row == 4 ? 3 : row;
              const float want = valid > 0 && row - 1 >= valid
                                     ? 0.0f
                                     : x.as<float>()[(c * 5 + from) * 3 + w];
              EXPECT_EQ(out[0].as<float>()[(c * 5 + row) * 3 + w], want)
                  << "channel " << c << " row " << row << " column " << w;
            }
      }
}

/// MirrorComm whose peer holds what this rank holds: a reduce_scatter's
/// result is twice this rank's block 0. It refuses buffers that overlap, as
/// its contract (and NCCL) does.
class ScatterMirror : public MirrorComm {
public:
  void reduceScatterSumOf(const void *send, void *recv, size_t n,
                          DType t) override {
    const size_t es = dtypeSize(t);
    const auto *s = static_cast<const uint8_t *>(send);
    const auto *r = static_cast<const uint8_t *>(recv);
    if (s < r + n * es && r < s + 2 * n * es)
      fail("ScatterMirror: reduce_scatter's recv overlaps its send");
    MirrorComm::reduceScatterSumOf(send, recv, n, t);
  }
  void reduceScatterSum(const float *send, float *recv, size_t n) override {
    for (size_t i = 0; i < n; ++i)
      recv[i] = 2 * send[i];
  }
};

// y = ReduceScatter(x [2, 6, 4]) over {0, 1} along dimension 0 (contiguous
// blocks) and 1 (packed first), the result in its own storage and over the
// operand's, on the three memory paths: the communicator gets packed,
// non-overlapping buffers, and this rank's block of x, doubled, comes back.
TEST(Plan, ReduceScatterPacksBlocksOnEveryMemoryPath) {
  for (int64_t dim : {0, 1})
    for (bool shared : {false, true})
      for (const char *name : kMemoryPaths) {
        SCOPED_TRACE(std::string(name) + " dim " + std::to_string(dim) +
                     (shared ? " shared" : ""));
        PlanSpec spec = reduceScatterSpec(); // along dimension 1
        spec.instrs[0].dim = dim;
        if (dim == 0)
          spec.values[1].shape = {1, 6, 4};
        if (shared)
          spec.values[1].offset = 0;
        LoadedPlan p = LoadedPlan::fromBytes(spec.build(), "rs.fplan");
        ScatterMirror comm;
        HostTensor x{DType::F32, {2, 6, 4}, std::vector<uint8_t>(4 * 48)};
        for (int i = 0; i < 48; ++i)
          x.as<float>()[i] = float(i) - 20.0f;
        std::vector<HostTensor> out = runOnPath(p, name, comm, {x});
        ASSERT_EQ(out.size(), 1u);
        ASSERT_EQ(out[0].numel(), 24);
        // Element j of the block: row j / run of x's first `run` columns.
        const int run = dim == 0 ? 24 : 12;
        for (int j = 0; j < 24; ++j)
          EXPECT_EQ(out[0].as<float>()[j],
                    2 * x.as<float>()[j / run * 2 * run + j % run])
              << "at " << j;
      }
}

/// MirrorComm whose all_gather gives every member this rank's block, whose
/// all_reduce doubles (the peer holds the same values), and whose
/// asynchronous collectives run only when waited for: the latest they may
/// read and write their buffers (as NCCL may, on its own stream).
class DeferredMirror : public MirrorComm {
public:
  void allGather(const void *send, void *recv, size_t bytes) override {
    std::memcpy(recv, send, bytes);
    std::memcpy(static_cast<char *>(recv) + bytes, send, bytes);
  }
  void allReduceSum(float *data, size_t n) override {
    for (size_t i = 0; i < n; ++i)
      data[i] *= 2;
  }
  std::function<void()> startAllReduceSumOf(void *data, size_t n,
                                            DType type) override {
    ++started;
    return [=] { allReduceSumOf(data, n, type); };
  }
  std::function<void()> startAllGather(const void *send, void *recv,
                                       size_t bytes) override {
    ++started;
    return [=] { allGather(send, recv, bytes); };
  }
  std::function<void()> startAllToAll(const void *send, void *recv,
                                      size_t bytes) override {
    ++started;
    return [=] { allToAll(send, recv, bytes); };
  }
  int started = 0;
};

/// An all_gather started asynchronously (its attrs say so).
InstrSpec asyncGather(int32_t x, int32_t g) {
  InstrSpec in{fp::OpCode::AllGather, {x}, {g}, false, -1, {0, 1}};
  in.async = true;
  return in;
}

/// Runs function f of `s` once on cpu-staged, every group through `comm`
/// (on the backend's memory), with input a [2, 3]: -2.5, -1.5, ...
std::vector<HostTensor> runStaged(const PlanSpec &s, DeferredMirror &comm) {
  LoadedPlan p = LoadedPlan::fromBytes(s.build(), "async.fplan");
  WeightStore weights(p.rank(0), "/nonexistent");
  comm.device = true;
  auto backend = createStagedCpuBackend();
  Executor exec(
      p, 0, *backend, weights,
      [&](const std::vector<int> &) -> Communicator & { return comm; });
  HostTensor a{DType::F32, {2, 3}, std::vector<uint8_t>(24)};
  for (int i = 0; i < 6; ++i)
    a.as<float>()[i] = float(i) - 2.5f;
  return exec.run("f", {a});
}

/// Runs `s` with a DeferredMirror: its all_gather must have started
/// asynchronously, and output 0 must be silu(silu(a)) gathered twice
/// ([4, 3] or [12]).
std::vector<HostTensor> runDeferredGather(const PlanSpec &s) {
  DeferredMirror comm;
  std::vector<HostTensor> out = runStaged(s, comm);
  const float first = -2.5f;
  EXPECT_EQ(comm.started, 1) << "the all_gather did not run asynchronously";
  auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
  for (int i = 0; i < 12; ++i)
    EXPECT_NEAR(out[0].as<float>()[i], silu(silu(first + float(i % 6))), 1e-6)
        << "at " << i;
  return out;
}

// x = silu(a); g = all_gather(x) started; y = a + a in x's old bytes (x's
// life ends at the gather); wait; out = silu(g). The gather runs until its
// Wait, so it must not read x from memory y overwrote meanwhile.
TEST(Plan, AsyncAllGatherDoesNotReadReusedMemory) {
  PlanSpec s;
  s.arena = 144;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},   // a
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // x
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 48},  // g
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // y
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 96}}; // out
  s.instrs = {{fp::OpCode::Silu, {0}, {1}},
              asyncGather(1, 2),
              {fp::OpCode::Add, {0, 0}, {3}},
              {fp::OpCode::Wait, {2}, {}},
              {fp::OpCode::Silu, {2}, {4}}};
  s.inputs = {0};
  s.inputNames = {"a"};
  s.outputs = {4, 3};
  s.outputNames = {"out", "y"};
  std::vector<HostTensor> out = runDeferredGather(s);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[1].as<float>()[i], 2 * (float(i) - 2.5f));
}

/// DeferredMirror whose blocking all_reduce fails, and whose started
/// all_gather's handle counts when it is dropped.
class FailingMirror : public DeferredMirror {
public:
  void allReduceSum(float *, size_t) override {
    fail("all_reduce failed on purpose");
  }
  std::function<void()> startAllGather(const void *send, void *recv,
                                       size_t bytes) override {
    ++started;
    std::shared_ptr<int> drop(new int(0), [this](int *p) {
      ++dropped;
      delete p;
    });
    return [=] {
      (void)drop;
      allGather(send, recv, bytes);
    };
  }
  int dropped = 0;
};

// A run that fails between a started all_gather and its Wait drops the
// gather's handle (which waits for the call) before run() returns, so that
// the next run does not reuse its buffers under it.
TEST(Plan, AStartedCallIsDroppedWhenTheRunFails) {
  PlanSpec s;
  s.arena = 120;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},   // a
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // x
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 48},  // g
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 96}}; // r
  s.instrs = {{fp::OpCode::Silu, {0}, {1}},
              asyncGather(1, 2),
              {fp::OpCode::AllReduce, {0}, {3}, false, -1, {0, 1}},
              {fp::OpCode::Wait, {2}, {}}};
  s.inputs = {0};
  s.inputNames = {"a"};
  s.outputs = {2, 3};
  s.outputNames = {"g", "r"};
  FailingMirror comm;
  EXPECT_THROW(runStaged(s, comm), Error);
  EXPECT_EQ(comm.started, 1);
  EXPECT_EQ(comm.dropped, 1)
      << "the started all_gather outlived the failed run";
}

// The gather's result read through a reshape (another value at the same
// offset, no instruction) after its Wait.
TEST(Plan, AsyncAllGatherWaitsBeforeAViewIsRead) {
  PlanSpec s;
  s.arena = 144;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},   // a
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // x
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 48},  // g
              {fp::ValueKind::Arena, fp::DType::F32, {12}, 48},    // view of g
              {fp::ValueKind::Arena, fp::DType::F32, {12}, 96},    // out
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24}}; // y
  s.instrs = {{fp::OpCode::Silu, {0}, {1}},
              asyncGather(1, 2),
              {fp::OpCode::Add, {0, 0}, {5}},
              {fp::OpCode::Wait, {2}, {}},
              {fp::OpCode::Silu, {3}, {4}}};
  s.inputs = {0};
  s.inputNames = {"a"};
  s.outputs = {4};
  s.outputNames = {"out"};
  runDeferredGather(s);
}

// x = silu(a); r = all_reduce(x) started; y = a + a; wait; out = silu(r).
// In place (r at x's offset: x has no other reader) or not, where y then
// takes x's bytes (its life ends at the all_reduce): the sum, run at the
// Wait, must read the copy made when it started. `async` false: the same
// plan synchronous, without the Wait.
PlanSpec allReduceSpec(bool async, bool inPlace) {
  PlanSpec s;
  s.arena = 120;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},   // a
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // x
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 48},  // r
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // y
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 72}}; // out
  if (inPlace) {
    s.values[2].offset = 24;
    s.values[3].offset = 96;
  }
  InstrSpec reduce{fp::OpCode::AllReduce, {1}, {2}, false, -1, {0, 1}};
  reduce.async = async;
  s.instrs = {{fp::OpCode::Silu, {0}, {1}},
              reduce,
              {fp::OpCode::Add, {0, 0}, {3}},
              {fp::OpCode::Wait, {2}, {}},
              {fp::OpCode::Silu, {2}, {4}}};
  if (!async)
    s.instrs.erase(s.instrs.begin() + 3);
  s.inputs = {0};
  s.inputNames = {"a"};
  s.outputs = {4, 3};
  s.outputNames = {"out", "y"};
  return s;
}

// The asynchronous all_reduce on the memory paths, in f32 and in bf16
// storage (staged): it starts asynchronously where the communicator works
// on the backend's memory (not when staged through the host, where its
// Wait does nothing), and gives what the synchronous plan gives:
// silu(2 silu(a)) and y = 2a.
TEST(Plan, AsyncAllReduceMatchesTheSynchronousPlan) {
  struct Path {
    const char *name;
    bool staged, device;
    GemmPrecision precision;
  };
  const Path paths[] = {
      {"cpu", false, false, GemmPrecision::F32},
      {"cpu-staged", true, false, GemmPrecision::F32},
      {"cpu-staged-direct", true, true, GemmPrecision::F32},
      {"cpu-staged bf16", true, false, GemmPrecision::BF16},
      {"cpu-staged-direct bf16", true, true, GemmPrecision::BF16}};
  HostTensor a{DType::F32, {2, 3}, std::vector<uint8_t>(24)};
  for (int i = 0; i < 6; ++i)
    a.as<float>()[i] = float(i) * 0.75f - 2.25f;
  for (const Path &path : paths)
    for (bool inPlace : {false, true}) {
      SCOPED_TRACE(std::string(path.name) +
                   (inPlace ? ", in place" : ", out of place"));
      auto run = [&](bool async, int *started) {
        LoadedPlan p = LoadedPlan::fromBytes(
            allReduceSpec(async, inPlace).build(), "all-reduce.fplan");
        WeightStore weights(p.rank(0), "/nonexistent");
        DeferredMirror comm;
        comm.device = path.device;
        auto backend = path.staged ? createStagedCpuBackend(path.precision)
                                   : createCpuBackend();
        Executor exec(
            p, 0, *backend, weights,
            [&](const std::vector<int> &) -> Communicator & { return comm; });
        std::vector<HostTensor> out = exec.run("f", {a});
        *started = comm.started;
        return out;
      };
      int startedAsync = 0, startedSync = 0;
      std::vector<HostTensor> got = run(true, &startedAsync);
      std::vector<HostTensor> want = run(false, &startedSync);
      EXPECT_EQ(startedSync, 0);
      const bool direct = !path.staged || path.device;
      EXPECT_EQ(startedAsync, direct ? 1 : 0)
          << "the all_reduce did not start asynchronously where it can";
      ASSERT_EQ(got.size(), 2u);
      ASSERT_EQ(want.size(), 2u);
      for (int k = 0; k < 2; ++k)
        for (int i = 0; i < 6; ++i)
          EXPECT_EQ(got[k].as<float>()[i], want[k].as<float>()[i])
              << "output " << k << " at " << i;
      const bool bf16 = path.precision == GemmPrecision::BF16;
      auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
      for (int i = 0; i < 6; ++i) {
        const double v = a.as<float>()[i];
        EXPECT_NEAR(got[0].as<float>()[i], silu(2 * silu(v)),
                    bf16 ? 3e-2 : 1e-6)
            << "at " << i;
        EXPECT_EQ(got[1].as<float>()[i], float(2 * v)) << "at " << i;
      }
    }
}

// A GroupNorm split over members {0, 1} whose peer holds the same block
// (DeferredMirror gathers this rank's statistics twice): the combined
// statistics are the block's own, so the result is the block's group norm.
// On the three memory paths.
TEST(Plan, SplitGroupNormGathersStatisticsOnEveryMemoryPath) {
  LoadedPlan p = LoadedPlan::fromBytes(groupNormSpec({0, 1}).build(), "gn");
  HostTensor x{DType::F32, {1, 4, 2, 3}, std::vector<uint8_t>(4 * 24)};
  for (int i = 0; i < 24; ++i)
    x.as<float>()[i] = 10.0f + float((i * 7) % 24) / 8.0f;
  const ref::RefVec want =
      ref::refGroupNorm(floats(x), nullptr, nullptr, 1, 4, 6, 2, 1e-6f);
  for (const char *name : kMemoryPaths) {
    SCOPED_TRACE(name);
    DeferredMirror comm;
    std::vector<HostTensor> out = runOnPath(p, name, comm, {x});
    ASSERT_EQ(out.size(), 1u);
    ref::expectClose(want, floats(out[0]));
  }
}

// valid_rows = 1 over x [1, 4, 2, 3]: row 0 is real, row 1 (garbage) is
// padding. Split over {0, 1} (member 1's band, all padding, weighs nothing:
// the mirror's copy of this rank's statistics must not count) and as one
// band without stats_members: the real row is its own group norm, the
// padding row finite. On the three memory paths.
TEST(Plan, GroupNormLeavesPaddingRowsOutOnEveryMemoryPath) {
  HostTensor x{DType::F32, {1, 4, 2, 3}, std::vector<uint8_t>(4 * 24)};
  std::vector<float> real;
  for (int i = 0; i < 24; ++i) {
    const bool pad = (i / 3) % 2 == 1;
    x.as<float>()[i] = pad ? 900.0f - float(i * 37 % 11) * 150.0f
                           : 10.0f + float((i * 7) % 24) / 8.0f;
    if (!pad)
      real.push_back(x.as<float>()[i]);
  }
  const ref::RefVec want =
      ref::refGroupNorm(real, nullptr, nullptr, 1, 4, 3, 2, 1e-6f);
  for (bool split : {true, false}) {
    PlanSpec spec = groupNormSpec(split ? std::vector<int32_t>{0, 1}
                                        : std::vector<int32_t>{});
    spec.instrs[0].validRows = 1;
    LoadedPlan p = LoadedPlan::fromBytes(spec.build(), "gn");
    for (const char *name : kMemoryPaths) {
      SCOPED_TRACE(std::string(name) + (split ? " split" : " one band"));
      DeferredMirror comm;
      std::vector<HostTensor> out = runOnPath(p, name, comm, {x});
      ASSERT_EQ(out.size(), 1u);
      const std::vector<float> y = floats(out[0]);
      std::vector<float> yReal;
      for (int i = 0; i < 24; ++i) {
        EXPECT_TRUE(std::isfinite(y[size_t(i)])) << "at " << i;
        if ((i / 3) % 2 == 0)
          yReal.push_back(y[size_t(i)]);
      }
      ref::expectClose(want, yReal);
    }
  }
}

} // namespace
