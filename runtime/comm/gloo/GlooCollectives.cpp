//===- GlooCollectives.cpp - Collectives over Gloo's pairs ----------------===//
//
// Each collective is written on Gloo's point-to-point buffers (ring and
// pairwise exchanges), with every wait bounded by the timeout and failures
// explained by GlooCommunicator::run.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/gloo/GlooImpl.h"

namespace fresco::gloo_impl {

/// Gloo unbound buffers for one operation, waited on under the watchdog
/// (Shared::wait) and bounded by the operation's deadline. If it fails, its
/// buffers (and the memory they point at) are leaked on purpose: Gloo's event
/// loop may still hold them, and the communicator is unusable afterwards
/// anyway.
class Exchange {
public:
  Exchange(Shared &shared, gloo::Context &context, std::vector<int> members,
           milliseconds timeout)
      : shared_(shared), context_(context), members_(std::move(members)),
        deadline_(Clock::now() + timeout) {}
  Exchange(const Exchange &) = delete;
  Exchange &operator=(const Exchange &) = delete;
  ~Exchange() {
    if (std::uncaught_exceptions() == 0)
      return;
    for (auto &b : buffers_)
      (void)b.release();
    for (auto &t : scratch_)
      (void)t.release();
  }

  gloo::transport::UnboundBuffer &buffer(void *data, size_t bytes) {
    buffers_.push_back(context_.createUnboundBuffer(data, bytes));
    return *buffers_.back();
  }
  /// Memory that lives as long as the buffers over it.
  char *scratch(size_t bytes) {
    scratch_.push_back(std::make_unique<char[]>(bytes));
    return scratch_.back().get();
  }

  void waitSend(gloo::transport::UnboundBuffer &b) {
    shared_.wait(b, /*isSend=*/true, members_, deadline_);
  }
  void waitRecv(gloo::transport::UnboundBuffer &b) {
    shared_.wait(b, /*isSend=*/false, members_, deadline_);
  }

private:
  Shared &shared_;
  gloo::Context &context_;
  std::vector<int> members_;
  Clock::time_point deadline_;
  std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> buffers_;
  std::vector<std::unique_ptr<char[]>> scratch_;
};

/// Where block b of n elements split into p near-equal blocks begins.
size_t blockBegin(size_t n, int p, int b) {
  size_t chunk = (n + p - 1) / p;
  return std::min(n, chunk * static_cast<size_t>(b));
}

int mod(int a, int p) { return ((a % p) + p) % p; }

void GlooCommunicator::allReduceSumNow(float *data, size_t n) {
  if (n == 0 || size() == 1)
    return;
  // Ring: reduce-scatter, then all-gather of the finished blocks. Each block
  // is summed on one rank only, so every rank ends with the same bits.
  run("allReduceSum of " + count(n, "float"), [&] {
    int p = size(), r = rank_, next = mod(r + 1, p), prev = mod(r - 1, p);
    Exchange ex(*shared_, *context_, members_, timeout());
    size_t chunk = (n + p - 1) / p;
    auto *incoming = reinterpret_cast<float *>(ex.scratch(chunk * 4));
    auto &out = ex.buffer(data, n * 4);
    auto &in = ex.buffer(incoming, chunk * 4);
    auto &gathered = ex.buffer(data, n * 4);
    auto slot = gloo::Slot::build(kAllReduceSlotPrefix, 0);
    auto step = [&](int sendBlock, int recvBlock, bool reduce) {
      size_t sb = blockBegin(n, p, sendBlock),
             se = blockBegin(n, p, sendBlock + 1);
      size_t rb = blockBegin(n, p, recvBlock),
             re = blockBegin(n, p, recvBlock + 1);
      if (re > rb) {
        if (reduce)
          in.recv(prev, slot, 0, (re - rb) * 4);
        else
          gathered.recv(prev, slot, rb * 4, (re - rb) * 4);
      }
      if (se > sb)
        out.send(next, slot, sb * 4, (se - sb) * 4);
      if (re > rb) {
        ex.waitRecv(reduce ? in : gathered);
        if (reduce)
          for (size_t i = rb; i < re; ++i)
            data[i] += incoming[i - rb];
      }
      if (se > sb)
        ex.waitSend(out);
    };
    for (int s = 0; s < p - 1; ++s)
      step(mod(r - s, p), mod(r - s - 1, p), /*reduce=*/true);
    for (int s = 0; s < p - 1; ++s)
      step(mod(r + 1 - s, p), mod(r - s, p), /*reduce=*/false);
  });
}

void GlooCommunicator::allGatherNow(const void *send, void *recv,
                                    size_t bytesPerRank) {
  if (bytesPerRank == 0)
    return;
  const char *s = static_cast<const char *>(send);
  char *r = static_cast<char *>(recv);
  size_t total = bytesPerRank * size();
  check(s + bytesPerRank <= r || r + total <= s,
        "allGather: recv overlaps send");
  std::memcpy(r + static_cast<size_t>(rank_) * bytesPerRank, s, bytesPerRank);
  if (size() == 1)
    return;
  // Ring: in step k each rank forwards the block it got in step k - 1.
  run("allGather of " + count(bytesPerRank, "byte") + " per rank", [&] {
    int p = size(), next = mod(rank_ + 1, p), prev = mod(rank_ - 1, p);
    Exchange ex(*shared_, *context_, members_, timeout());
    auto &out = ex.buffer(r, total);
    auto &in = ex.buffer(r, total);
    auto slot = gloo::Slot::build(kAllGatherSlotPrefix, 0);
    for (int k = 0; k < p - 1; ++k) {
      size_t sendBlock = static_cast<size_t>(mod(rank_ - k, p));
      size_t recvBlock = static_cast<size_t>(mod(rank_ - k - 1, p));
      in.recv(prev, slot, recvBlock * bytesPerRank, bytesPerRank);
      out.send(next, slot, sendBlock * bytesPerRank, bytesPerRank);
      ex.waitRecv(in);
      ex.waitSend(out);
    }
  });
}

void GlooCommunicator::reduceScatterSumNow(const float *send, float *recv,
                                           size_t n) {
  if (n == 0)
    return;
  int p = size();
  if (p == 1) {
    std::memmove(recv, send, n * sizeof(float));
    return;
  }
  // Ring: in step s each rank passes its partial sum of block (r - s - 1) to
  // the next rank and adds the previous rank's partial sum of block
  // (r - s - 2) to its own; after p - 1 steps block r is complete.
  run("reduceScatterSum of " + count(n, "float") + " per rank", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    auto *acc = reinterpret_cast<float *>(ex.scratch(n * p * 4));
    auto *incoming = reinterpret_cast<float *>(ex.scratch(n * 4));
    std::memcpy(acc, send, n * p * 4);
    auto &sendBuf = ex.buffer(acc, n * p * 4);
    auto &recvBuf = ex.buffer(incoming, n * 4);
    int next = mod(rank_ + 1, p), prev = mod(rank_ - 1, p);
    auto slot = gloo::Slot::build(kReduceScatterSlotPrefix, 0);
    for (int s = 0; s < p - 1; ++s) {
      size_t out = static_cast<size_t>(mod(rank_ - s - 1, p));
      size_t in = static_cast<size_t>(mod(rank_ - s - 2, p));
      recvBuf.recv(prev, slot);
      sendBuf.send(next, slot, out * n * 4, n * 4);
      ex.waitRecv(recvBuf);
      ex.waitSend(sendBuf);
      float *dst = acc + in * n;
      for (size_t i = 0; i < n; ++i)
        dst[i] += incoming[i];
    }
    std::memcpy(recv, acc + static_cast<size_t>(rank_) * n, n * 4);
  });
}

void GlooCommunicator::allToAllNow(const void *send, void *recv,
                                   size_t bytesPerRank) {
  if (bytesPerRank == 0)
    return;
  size_t total = bytesPerRank * size();
  const char *s = static_cast<const char *>(send);
  char *r = static_cast<char *>(recv);
  if (size() == 1) {
    std::memmove(r, s, total);
    return;
  }
  run("allToAll of " + count(bytesPerRank, "byte") + " per rank", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    // Sends read `send` while receives write `recv`: copy when they overlap.
    if (!(s + total <= r || r + total <= s)) {
      char *copy = ex.scratch(total);
      std::memcpy(copy, s, total);
      s = copy;
    }
    size_t mine = static_cast<size_t>(rank_) * bytesPerRank;
    std::memcpy(r + mine, s + mine, bytesPerRank);
    auto &out = ex.buffer(const_cast<char *>(s), total);
    auto &in = ex.buffer(r, total);
    auto slot = gloo::Slot::build(kAllToAllSlotPrefix, 0);
    for (int q = 0; q < size(); ++q)
      if (q != rank_)
        in.recv(q, slot, static_cast<size_t>(q) * bytesPerRank, bytesPerRank);
    for (int q = 0; q < size(); ++q)
      if (q != rank_)
        out.send(q, slot, static_cast<size_t>(q) * bytesPerRank, bytesPerRank);
    for (int q = 0; q < size() - 1; ++q)
      ex.waitRecv(in);
    for (int q = 0; q < size() - 1; ++q)
      ex.waitSend(out);
  });
}

void GlooCommunicator::sendNow(const void *data, size_t bytes, int peer,
                               int tag) {
  checkPeer("send", peer);
  check(tag >= 0, "send: tag ", tag, " is negative");
  if (peer == rank_) {
    const char *p = static_cast<const char *>(data);
    selfMessages_[tag].emplace_back(p, p + bytes);
    return;
  }
  if (bytes == 0)
    return;
  run("send of " + count(bytes, "byte") + " to rank " +
          std::to_string(members_[peer]) + " (tag " + std::to_string(tag) + ")",
      [&] {
        Exchange ex(*shared_, *context_, members_, timeout());
        auto &buf = ex.buffer(const_cast<void *>(data), bytes);
        buf.send(peer, gloo::Slot::build(kSendRecvSlotPrefix,
                                         static_cast<uint32_t>(tag)));
        ex.waitSend(buf);
      });
}

void GlooCommunicator::recvNow(void *data, size_t bytes, int peer, int tag) {
  checkPeer("recv", peer);
  check(tag >= 0, "recv: tag ", tag, " is negative");
  if (peer == rank_) {
    auto &queue = selfMessages_[tag];
    check(!queue.empty(), "recv from this rank itself (tag ", tag,
          ") with no matching send before it");
    check(queue.front().size() == bytes, "recv of ", bytes,
          " bytes from this rank itself (tag ", tag, ") but ",
          queue.front().size(), " were sent");
    std::memcpy(data, queue.front().data(), bytes);
    queue.pop_front();
    return;
  }
  if (bytes == 0)
    return;
  run("recv of " + count(bytes, "byte") + " from rank " +
          std::to_string(members_[peer]) + " (tag " + std::to_string(tag) + ")",
      [&] {
        Exchange ex(*shared_, *context_, members_, timeout());
        auto &buf = ex.buffer(data, bytes);
        buf.recv(peer, gloo::Slot::build(kSendRecvSlotPrefix,
                                         static_cast<uint32_t>(tag)));
        ex.waitRecv(buf);
      });
}

void GlooCommunicator::sendRecvNow(const void *send, int to, void *recv,
                                   int from, size_t bytes, int tag) {
  check(to >= 0 && to < size(), "sendRecv: destination ", to,
        " is not a member of ", describe());
  check(from >= 0 && from < size(), "sendRecv: source ", from,
        " is not a member of ", describe());
  check(tag >= 0, "sendRecv: tag ", tag, " is negative");
  const char *s = static_cast<const char *>(send);
  char *r = static_cast<char *>(recv);
  check(bytes == 0 || s + bytes <= r || r + bytes <= s,
        "sendRecv: recv overlaps send");
  // This rank's own part goes through the queue of send/recv to oneself, so
  // that sendRecv and send/recv to oneself mix in order per tag. Checked
  // before anything is queued or posted.
  if (from == rank_) {
    auto &queue = selfMessages_[tag];
    if (queue.empty() && to == rank_) {
      if (bytes)
        std::memcpy(r, s, bytes);
    } else {
      check(!queue.empty(), "sendRecv from this rank itself (tag ", tag,
            ") with no matching send before it");
      check(queue.front().size() == bytes, "sendRecv of ", bytes,
            " bytes from this rank itself (tag ", tag, ") but ",
            queue.front().size(), " were sent");
      if (bytes)
        std::memcpy(r, queue.front().data(), bytes);
      queue.pop_front();
      if (to == rank_)
        queue.emplace_back(s, s + bytes);
    }
  } else if (to == rank_) {
    selfMessages_[tag].emplace_back(s, s + bytes);
  }
  bool sendOut = to != rank_ && bytes > 0;
  bool recvIn = from != rank_ && bytes > 0;
  if (!sendOut && !recvIn)
    return;
  std::string what = "sendRecv of " + count(bytes, "byte");
  if (sendOut)
    what += " to rank " + std::to_string(members_[to]);
  if (recvIn)
    what += std::string(sendOut ? " and" : "") + " from rank " +
            std::to_string(members_[from]);
  run(what + " (tag " + std::to_string(tag) + ")", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    auto slot =
        gloo::Slot::build(kSendRecvSlotPrefix, static_cast<uint32_t>(tag));
    // Both posted before either is waited on: a Gloo send completes only
    // once its peer takes it, so a ring where every member first waits for
    // its own send would deadlock.
    gloo::transport::UnboundBuffer *in = nullptr, *out = nullptr;
    if (recvIn) {
      in = &ex.buffer(r, bytes);
      in->recv(from, slot);
    }
    if (sendOut) {
      out = &ex.buffer(const_cast<char *>(s), bytes);
      out->send(to, slot);
    }
    if (in)
      ex.waitRecv(*in);
    if (out)
      ex.waitSend(*out);
  });
}

void GlooCommunicator::broadcastNow(void *data, size_t bytes, int root) {
  checkPeer("broadcast", root);
  if (bytes == 0 || size() == 1)
    return;
  run("broadcast of " + count(bytes, "byte") + " from rank " +
          std::to_string(members_[root]),
      [&] {
        Exchange ex(*shared_, *context_, members_, timeout());
        auto &buf = ex.buffer(data, bytes);
        auto slot = gloo::Slot::build(kBroadcastSlotPrefix, 0);
        if (rank_ != root) {
          buf.recv(root, slot);
          ex.waitRecv(buf);
          return;
        }
        for (int q = 0; q < size(); ++q)
          if (q != root)
            buf.send(q, slot);
        for (int q = 0; q < size() - 1; ++q)
          ex.waitSend(buf);
      });
}

void GlooCommunicator::barrierNow() {
  if (size() == 1)
    return;
  // Everyone tells everyone it has arrived.
  run("barrier", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    char *flags = ex.scratch(static_cast<size_t>(size()) + 1);
    auto &out = ex.buffer(flags + size(), 1);
    auto &in = ex.buffer(flags, static_cast<size_t>(size()));
    auto slot = gloo::Slot::build(kBarrierSlotPrefix, 0);
    for (int q = 0; q < size(); ++q)
      if (q != rank_) {
        in.recv(q, slot, static_cast<size_t>(q), 1);
        out.send(q, slot);
      }
    for (int q = 0; q < size() - 1; ++q)
      ex.waitRecv(in);
    for (int q = 0; q < size() - 1; ++q)
      ex.waitSend(out);
  });
}

} // namespace fresco::gloo_impl
