//===- GlooDirect.cpp - Gloo handed a device backend's memory -------------===//
#include "runtime/comm/gloo/GlooDirect.h"

namespace fresco {
namespace {

class GlooDirect final : public Communicator {
public:
  explicit GlooDirect(std::unique_ptr<Communicator> inner)
      : inner_(std::move(inner)) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int globalRank(int i) const override { return inner_->globalRank(i); }
  std::unique_ptr<Communicator> subgroup(const std::vector<int> &members,
                                         const std::string &tag) override {
    return std::make_unique<GlooDirect>(inner_->subgroup(members, tag));
  }
  void allReduceSum(float *d, size_t n) override { inner_->allReduceSum(d, n); }
  void allReduceSumOf(void *d, size_t n, DType t) override {
    inner_->allReduceSumOf(d, n, t);
  }
  void allGather(const void *s, void *r, size_t b) override {
    inner_->allGather(s, r, b);
  }
  void reduceScatterSum(const float *s, float *r, size_t n) override {
    inner_->reduceScatterSum(s, r, n);
  }
  void reduceScatterSumOf(const void *s, void *r, size_t n, DType t) override {
    inner_->reduceScatterSumOf(s, r, n, t);
  }
  void allToAll(const void *s, void *r, size_t b) override {
    inner_->allToAll(s, r, b);
  }
  void send(const void *d, size_t b, int peer, int tag) override {
    inner_->send(d, b, peer, tag);
  }
  void recv(void *d, size_t b, int peer, int tag) override {
    inner_->recv(d, b, peer, tag);
  }
  void sendRecv(const void *s, int to, void *r, int from, size_t b,
                int tag) override {
    inner_->sendRecv(s, to, r, from, b, tag);
  }
  void broadcast(void *d, size_t b, int root) override {
    inner_->broadcast(d, b, root);
  }
  std::function<void()> startSendRecv(const void *s, int to, void *r, int from,
                                      size_t b, int tag) override {
    return inner_->startSendRecv(s, to, r, from, b, tag);
  }
  // Deferred to the wait on purpose (GlooDirect.h).
  std::function<void()> startAllToAll(const void *s, void *r,
                                      size_t b) override {
    Communicator *c = inner_.get();
    return [=] { c->allToAll(s, r, b); };
  }
  std::function<void()> startAllGather(const void *s, void *r,
                                       size_t b) override {
    Communicator *c = inner_.get();
    return [=] { c->allGather(s, r, b); };
  }
  std::function<void()> startAllReduceSumOf(void *d, size_t n,
                                            DType t) override {
    Communicator *c = inner_.get();
    return [=] { c->allReduceSumOf(d, n, t); };
  }
  void barrier() override { inner_->barrier(); }
  bool usesDeviceMemory() const override { return true; }

private:
  std::unique_ptr<Communicator> inner_;
};

} // namespace

std::unique_ptr<Communicator>
createGlooDirect(std::unique_ptr<Communicator> inner) {
  return std::make_unique<GlooDirect>(std::move(inner));
}

} // namespace fresco
