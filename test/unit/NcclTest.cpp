//===- NcclTest.cpp - The NCCL communicator on one GPU --------------------===//
//
// One rank, one GPU: NCCL's collectives degenerate to copies, which is
// enough to check the plumbing (loading libnccl, the Gloo bootstrap, calls
// queued on the CUDA backend's stream on device memory, the watchdog's
// events, capture into CUDA graphs). Several ranks need several GPUs;
// bench/gpu-check.sh checks that two ranks on one GPU fall back to Gloo.
// Skipped, saying why, without a GPU or NCCL.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackend.h"
#include "runtime/comm/Communicator.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/comm/nccl/NcclCommunicator.h"
#include "runtime/core/Error.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <numeric>
#include <vector>

namespace fresco {
namespace {

using std::chrono::milliseconds;

class NcclOneRank : public ::testing::Test {
protected:
  void SetUp() override {
    std::string why;
    if (!cudaDeviceUsable(&why))
      GTEST_SKIP() << "no CUDA device: " << why;
    backend = createCudaBackend(0);
    RankEnv env; // rank 0 of 1: no rendezvous needed
    comm =
        createNcclCommunicator(createGlooCommunicator(env, milliseconds(5000)),
                               *backend, milliseconds(5000), &why);
    if (!comm)
      GTEST_SKIP() << "NCCL unavailable: " << why;
  }
  void TearDown() override {
    for (void *p : owned)
      backend->release(p);
  }

  float *device(const std::vector<float> &v) {
    auto *p = static_cast<float *>(backend->allocate(v.size() * 4));
    backend->copyToDevice(p, v.data(), v.size() * 4);
    owned.push_back(p);
    return p;
  }
  std::vector<float> host(const float *p, size_t n) {
    std::vector<float> v(n);
    backend->copyToHost(v.data(), p, n * 4);
    return v;
  }

  std::unique_ptr<Backend> backend;
  std::unique_ptr<Communicator> comm;
  std::vector<void *> owned;
};

TEST_F(NcclOneRank, CollectivesOnDeviceMemory) {
  EXPECT_TRUE(comm->usesDeviceMemory());
  EXPECT_EQ(comm->size(), 1);
  std::vector<float> v(37);
  std::iota(v.begin(), v.end(), 1.0f);
  float *src = device(v);
  float *dst = device(std::vector<float>(v.size(), -1.0f));
  comm->allGather(src, dst, v.size() * 4);
  EXPECT_EQ(host(dst, v.size()), v);

  float *rs = device(std::vector<float>(v.size(), -1.0f));
  comm->reduceScatterSum(src, rs, v.size());
  EXPECT_EQ(host(rs, v.size()), v);

  float *a2a = device(std::vector<float>(v.size(), -1.0f));
  comm->allToAll(src, a2a, v.size() * 4);
  EXPECT_EQ(host(a2a, v.size()), v);

  comm->allReduceSum(src, v.size()); // one rank: the sum is itself
  comm->barrier();
  EXPECT_EQ(host(src, v.size()), v);
  backend->synchronize();
}

// bf16 and f16 sums go to NCCL as such (one member: the sum is itself, to
// the bit); an f32 call of the typed entry too.
TEST_F(NcclOneRank, TypedAllReduce) {
  for (DType t : {DType::BF16, DType::F16, DType::F32}) {
    SCOPED_TRACE(dtypeName(t));
    const size_t n = 41;
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), -3.5f);
    std::vector<uint8_t> stored(n * dtypeSize(t)), back(stored.size());
    narrowFloats(v.data(), stored.data(), n, t);
    void *d = backend->allocate(stored.size());
    owned.push_back(d);
    backend->copyToDevice(d, stored.data(), stored.size());
    comm->allReduceSumOf(d, n, t);
    backend->synchronize();
    backend->copyToHost(back.data(), d, back.size());
    EXPECT_EQ(back, stored);
  }
}

// The all_reduce started on the communication stream (an asynchronous
// AllReduce of a plan): in f32 and bf16, ordered after the backend's
// copy into its buffer, with a kernel and a synchronous all_reduce queued
// on the backend's stream before its wait, and the copy out after it. One
// member: the sum is itself, to the bit.
TEST_F(NcclOneRank, StartedAllReduce) {
  for (DType t : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtypeName(t));
    const size_t n = 67, es = dtypeSize(t);
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), -9.5f);
    std::vector<uint8_t> stored(n * es), back(stored.size(), 0xee);
    narrowFloats(v.data(), stored.data(), n, t);
    auto buffer = [&] {
      void *d = backend->allocate(stored.size());
      owned.push_back(d);
      return d;
    };
    void *src = buffer(), *sum = buffer(), *other = buffer(), *out = buffer();
    backend->copyToDevice(src, stored.data(), stored.size());
    backend->copyStrided(src, int64_t(n), sum, int64_t(n), 1, int64_t(n), es);
    std::function<void()> wait = comm->startAllReduceSumOf(sum, n, t);
    backend->copyStrided(src, int64_t(n), other, int64_t(n), 1, int64_t(n), es);
    comm->allReduceSumOf(other, n, t); // waits for the one in flight
    wait();
    backend->copyStrided(sum, int64_t(n), out, int64_t(n), 1, int64_t(n), es);
    backend->synchronize();
    backend->copyToHost(back.data(), out, back.size());
    EXPECT_EQ(back, stored);
    backend->copyToHost(back.data(), other, back.size());
    EXPECT_EQ(back, stored);
    comm->startAllReduceSumOf(sum, 0, t)(); // nothing to sum
  }
  EXPECT_THROW(comm->startAllReduceSumOf(nullptr, 4, DType::I64), Error);
  backend->synchronize();
}

// The same for the typed reduce-scatter: one member's block is its whole
// send, to the bit, into another buffer.
TEST_F(NcclOneRank, TypedReduceScatter) {
  for (DType t : {DType::BF16, DType::F16, DType::F32}) {
    SCOPED_TRACE(dtypeName(t));
    const size_t n = 41;
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), -3.5f);
    std::vector<uint8_t> stored(n * dtypeSize(t)), back(stored.size(), 0xee);
    narrowFloats(v.data(), stored.data(), n, t);
    void *send = backend->allocate(stored.size());
    void *recv = backend->allocate(stored.size());
    owned.push_back(send);
    owned.push_back(recv);
    backend->copyToDevice(send, stored.data(), stored.size());
    comm->reduceScatterSumOf(send, recv, n, t);
    backend->synchronize();
    backend->copyToHost(back.data(), recv, back.size());
    EXPECT_EQ(back, stored);
  }
}

TEST_F(NcclOneRank, SendRecvToItselfCopies) {
  std::vector<float> v(53);
  std::iota(v.begin(), v.end(), -7.0f);
  float *src = device(v);
  float *dst = device(std::vector<float>(v.size(), -1.0f));
  // A ring of one: the next and the previous member are this rank.
  comm->sendRecv(src, 0, dst, 0, v.size() * 4, /*tag=*/3);
  EXPECT_EQ(host(dst, v.size()), v);
  comm->sendRecv(src, 0, dst, 0, 0, 0); // nothing to move
  EXPECT_THROW(comm->sendRecv(src, 1, dst, 0, 4, 0), Error);
  EXPECT_THROW(comm->sendRecv(src, 0, src, 0, 4, 0), Error);
  backend->synchronize();
}

// As the executor records a step (--graphs on): NCCL calls captured into a
// CUDA graph with the kernels around them, ring attention's exchange on the
// communicator's own stream included. Recording runs nothing; each replay
// moves the data its buffers hold at that time.
TEST_F(NcclOneRank, CollectivesRecordedInAGraphRunOnEachReplay) {
  const size_t n = 96;
  float *src = device(std::vector<float>(n, 0.0f));
  float *mid = device(std::vector<float>(n, 0.0f));
  float *gathered = device(std::vector<float>(n, 0.0f));
  float *passed = device(std::vector<float>(n, 0.0f));
  float *out = device(std::vector<float>(n, -1.0f));
  float *exchanged = device(std::vector<float>(n, 0.0f));
  float *regathered = device(std::vector<float>(n, 0.0f));
  auto issue = [&] {
    backend->copyStrided(src, n, mid, n, 1, n, 4);
    comm->allGather(mid, gathered, n * 4);
    std::function<void()> wait =
        comm->startSendRecv(gathered, 0, passed, 0, n * 4, /*tag=*/0);
    wait();
    // Started on the communication stream; a call on the backend's stream
    // in between waits for them.
    std::function<void()> a2a = comm->startAllToAll(passed, exchanged, n * 4);
    std::function<void()> ag =
        comm->startAllGather(exchanged, regathered, n * 4);
    comm->allReduceSum(mid, n);
    a2a();
    ag();
    std::function<void()> ar =
        comm->startAllReduceSumOf(regathered, n, DType::F32);
    ar();
    comm->allReduceSum(regathered, n);
    backend->copyStrided(regathered, n, out, n, 1, n, 4);
  };
  std::unique_ptr<Recording> graph = backend->record(issue);
  ASSERT_NE(graph, nullptr) << "NCCL calls could not be captured";
  backend->synchronize();
  EXPECT_EQ(host(out, n), std::vector<float>(n, -1.0f)) << "recording ran";
  for (float base : {1.0f, -40.0f}) {
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), base);
    backend->copyToDevice(src, v.data(), n * 4);
    graph->replay();
    comm->watchQueuedWork("the test's replay");
    backend->synchronize();
    EXPECT_EQ(host(out, n), v) << "replay from " << base;
  }
}

} // namespace
} // namespace fresco
