//===- CommUnitsTest.cpp - Rendezvous stores and the failure board --------===//
//
// The units under the launcher and the Gloo communicator, on their own: this
// test links fresco_comm_base only (no Gloo, no launcher).
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/FailureBoard.h"
#include "runtime/comm/store/DirStore.h"
#include "runtime/comm/store/KVStore.h"
#include "runtime/comm/store/StoreProtocol.h"
#include "runtime/core/Error.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

using namespace fresco;
using std::chrono::milliseconds;

namespace {

std::vector<char> bytes(const std::string &s) { return {s.begin(), s.end()}; }

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

} // namespace

TEST(Rendezvous, ParsesTheThreeForms) {
  EXPECT_EQ(parseRendezvous("").kind, RendezvousAddress::Kind::Memory);
  RendezvousAddress dir = parseRendezvous("file:/tmp/x");
  EXPECT_EQ(dir.kind, RendezvousAddress::Kind::Folder);
  EXPECT_EQ(dir.folder, "/tmp/x");
  RendezvousAddress tcp = parseRendezvous("tcp:[::1]:29500");
  EXPECT_EQ(tcp.kind, RendezvousAddress::Kind::Tcp);
  EXPECT_EQ(tcp.host, "::1");
  EXPECT_EQ(tcp.port, 29500);
  EXPECT_EQ(errorOf([] { parseRendezvous("udp:x"); }),
            "invalid rendezvous 'udp:x': expected file:<folder> or "
            "tcp:<host>:<port>");
  EXPECT_EQ(errorOf([] { parseRendezvous("tcp:host:0"); }),
            "invalid rendezvous 'tcp:host:0': bad port");
}

TEST(Rendezvous, StoresSetGetAndTimeOut) {
  test::TempDir dir;
  for (const std::string &where : {std::string(""), "file:" + dir.path()}) {
    SCOPED_TRACE(where);
    std::shared_ptr<KVStore> store =
        openStore(parseRendezvous(where), true, milliseconds(50));
    std::vector<char> v;
    EXPECT_FALSE(store->tryGet("world/0", v));
    store->set("world/0", bytes("a b"));
    EXPECT_TRUE(store->has("world/0"));
    EXPECT_EQ(store->get("world/0"), bytes("a b"));
    std::string e = errorOf([&] { store->wait({"world/0", "missing"}); });
    EXPECT_NE(e.find("no value for 'missing' within 0.05 s"), std::string::npos)
        << e;
  }
  // A folder is shared: another store on it (another rank) sees the keys.
  std::shared_ptr<KVStore> other = openDirStore(dir.path(), milliseconds(50));
  EXPECT_EQ(other->get("world/0"), bytes("a b"));
}

namespace {

/// The server's answers to `requests`, as one byte string.
std::string serve(const std::string &requests, StoreMap &map) {
  size_t pos = 0;
  std::string replies;
  StoreStream stream{[&](void *out, size_t n) {
                       if (n > requests.size() - pos)
                         return false;
                       std::memcpy(out, requests.data() + pos, n);
                       pos += n;
                       return true;
                     },
                     [&](const void *data, size_t n) {
                       replies.append(static_cast<const char *>(data), n);
                       return true;
                     }};
  std::mutex mutex;
  serveStoreRequests(stream, map, mutex);
  return replies;
}

std::string str(const std::string &s) {
  uint32_t n = uint32_t(s.size());
  return std::string(reinterpret_cast<const char *>(&n), 4) + s;
}

} // namespace

TEST(StoreProtocol, SetGetHas) {
  StoreMap map;
  std::string replies =
      serve("S" + str("k") + str("v1") + "G" + str("k") + "H" + str("x"), map);
  EXPECT_EQ(replies, std::string("\1\1", 2) + str("v1") + std::string(1, '\0'));
  EXPECT_EQ(map.size(), 1u);
}

// A hostile or broken client is dropped without effect: an unknown op, a
// string longer than the limit, or one announced but never sent (the
// server must not allocate the announced 1 GiB up front).
TEST(StoreProtocol, MalformedRequestsEndTheConnection) {
  StoreMap map;
  EXPECT_EQ(serve("X" + str("k"), map), "");
  uint32_t big = kMaxStoreString + 1;
  EXPECT_EQ(serve("S" + std::string(reinterpret_cast<char *>(&big), 4), map),
            "");
  uint32_t max = kMaxStoreString;
  EXPECT_EQ(
      serve("S" + std::string(reinterpret_cast<char *>(&max), 4) + "ab", map),
      "");
  EXPECT_EQ(serve("S" + str("k"), map), ""); // no value
  EXPECT_TRUE(map.empty());
}

TEST(FailureBoard, NamesWhoFailedAndHow) {
  test::TempDir dir;
  auto store = openDirStore(dir.path(), milliseconds(2000));
  FailureBoard rank0(store, 0, 2), rank1(store, 1, 2);
  std::thread joining([&] { rank1.join(milliseconds(2000), "test"); });
  rank0.join(milliseconds(2000), "test");
  joining.join();
  EXPECT_EQ(rank0.peer(1).pid, rank1.peer(1).pid);
  EXPECT_EQ(rank0.peer(1).host, rank0.host());

  EXPECT_TRUE(rank0.diagnose({0, 1}).primary.empty());
  EXPECT_EQ(rank0.deadMember({0, 1}), "");
  EXPECT_EQ(publishedFailure(dir.path(), 1), PublishedFailure::None);

  rank1.reportOwn("weights.safetensors: truncated");
  FailureBoard::Diagnosis d = rank0.diagnose({0, 1});
  ASSERT_EQ(d.primary.size(), 1u);
  EXPECT_EQ(d.primary[0], "rank 1 failed: weights.safetensors: truncated");
  EXPECT_EQ(rank0.deadMember({0, 1}), "rank 1 reported a failure");
  EXPECT_EQ(publishedFailure(dir.path(), 1), PublishedFailure::Own);

  rank0.reportCollective("all_reduce failed on rank 0: rank 1 failed");
  EXPECT_EQ(publishedFailure(dir.path(), 0), PublishedFailure::Collective);
  d = rank1.diagnose({0, 1});
  ASSERT_EQ(d.secondary.size(), 1u);
  EXPECT_EQ(d.secondary[0],
            "rank 0 reported: all_reduce failed on rank 0: rank 1 failed");
}

TEST(FailureBoard, MissingRankIsNamed) {
  test::TempDir dir;
  FailureBoard board(openDirStore(dir.path(), milliseconds(50)), 0, 3);
  std::string e = errorOf([&] { board.join(milliseconds(50), "test"); });
  EXPECT_NE(e.find("rank 0 of 3: ranks 1, 2 did not join within 0.05 s "
                   "(rendezvous file:" +
                   dir.path() + ", launcher test;"),
            std::string::npos)
      << e;
}
