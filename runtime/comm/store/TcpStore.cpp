//===- TcpStore.cpp - A rendezvous store served by rank 0 over TCP --------===//
#include "runtime/comm/store/TcpStore.h"
#include "runtime/comm/Text.h"
#include "runtime/comm/store/StoreProtocol.h"
#include "runtime/core/Error.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace fresco {
namespace {

using Clock = std::chrono::steady_clock;
using comm::seconds;
using std::chrono::milliseconds;

bool writeAll(int fd, const void *data, size_t n) {
  const char *p = static_cast<const char *>(data);
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool readAll(int fd, void *data, size_t n) {
  char *p = static_cast<char *>(data);
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool writeString(int fd, const void *data, uint32_t n) {
  return writeAll(fd, &n, sizeof n) && writeAll(fd, data, n);
}

/// The store of a tcp:<host>:<port> rendezvous. Rank 0 keeps the map and
/// serves it (one thread per connected rank; requests are tiny); the others
/// are clients. The requests: StoreProtocol.h.
class TcpStore : public KVStore {
public:
  TcpStore(const std::string &host, int port, bool serve, milliseconds timeout)
      : KVStore(timeout), host_(host), port_(port), serving_(serve) {
    if (serving_)
      startServer();
    else
      connectToServer();
  }

  ~TcpStore() override {
    if (serving_) {
      stop_ = true;
      char c = 0;
      if (wakeFds_[1] >= 0 && ::write(wakeFds_[1], &c, 1) < 0) {
      }
      if (acceptThread_.joinable())
        acceptThread_.join();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (int fd : clientFds_)
          ::shutdown(fd, SHUT_RDWR);
      }
      for (std::thread &t : clientThreads_)
        t.join();
      for (int fd : clientFds_)
        ::close(fd);
      for (int fd : {listenFd_, wakeFds_[0], wakeFds_[1]})
        if (fd >= 0)
          ::close(fd);
    } else if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  void set(const std::string &key, const std::vector<char> &value) override {
    if (serving_) {
      std::lock_guard<std::mutex> lock(mutex_);
      map_[key] = value;
      return;
    }
    std::vector<char> reply;
    request('S', key, &value, reply);
  }

  bool tryGet(const std::string &key, std::vector<char> &value) override {
    if (serving_) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = map_.find(key);
      if (it == map_.end())
        return false;
      value = it->second;
      return true;
    }
    return request('G', key, nullptr, value);
  }

  bool has(const std::string &key) override {
    if (serving_) {
      std::lock_guard<std::mutex> lock(mutex_);
      return map_.count(key) != 0;
    }
    std::vector<char> reply;
    return request('H', key, nullptr, reply);
  }

  std::string where() const override {
    return "tcp:" + host_ + ":" + std::to_string(port_) + " (served by rank 0)";
  }

private:
  void startServer() {
    listenFd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool v6 = listenFd_ >= 0;
    if (!v6)
      listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listenFd_ < 0)
      fail("rank 0 cannot open a socket for the rendezvous store: ",
           std::strerror(errno));
    int one = 1, zero = 0;
    setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (v6) {
      // Dual stack: IPv4 clients connect too.
      setsockopt(listenFd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_addr = in6addr_any;
      addr.sin6_port = htons(static_cast<uint16_t>(port_));
      rc = ::bind(listenFd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    } else {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_ANY);
      addr.sin_port = htons(static_cast<uint16_t>(port_));
      rc = ::bind(listenFd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    }
    if (rc != 0 || ::listen(listenFd_, 128) != 0)
      fail("rank 0 cannot serve the rendezvous store on port ", port_, ": ",
           std::strerror(errno),
           errno == EADDRINUSE ? " (another program uses MASTER_PORT; pick a "
                                 "free port)"
                               : "");
    if (::pipe2(wakeFds_, O_CLOEXEC) != 0)
      fail("cannot create a pipe: ", std::strerror(errno));
    acceptThread_ = std::thread([this] { acceptLoop(); });
  }

  void acceptLoop() {
    while (!stop_) {
      pollfd fds[2] = {{listenFd_, POLLIN, 0}, {wakeFds_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        return;
      }
      if (stop_ || (fds[1].revents & POLLIN))
        return;
      if (!(fds[0].revents & POLLIN))
        continue;
      int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard<std::mutex> lock(mutex_);
      clientFds_.push_back(fd);
      clientThreads_.emplace_back([this, fd] { serveClient(fd); });
    }
  }

  void serveClient(int fd) {
    StoreStream stream{
        [fd](void *data, size_t n) { return readAll(fd, data, n); },
        [fd](const void *data, size_t n) { return writeAll(fd, data, n); }};
    serveStoreRequests(stream, map_, mutex_);
  }

  void connectToServer() {
    auto deadline = Clock::now() + timeout_;
    std::string lastError = "no answer";
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    std::string port = std::to_string(port_);
    // Rank 0 may not listen yet: retry until the timeout.
    while (Clock::now() < deadline) {
      addrinfo *res = nullptr;
      int gai = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res);
      if (gai != 0) {
        lastError =
            std::string("cannot resolve '") + host_ + "': " + gai_strerror(gai);
      } else {
        for (addrinfo *ai = res; ai; ai = ai->ai_next) {
          int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                            ai->ai_protocol);
          if (fd < 0)
            continue;
          if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            fd_ = fd;
            break;
          }
          lastError = std::strerror(errno);
          ::close(fd);
        }
        ::freeaddrinfo(res);
      }
      if (fd_ >= 0)
        break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    if (fd_ < 0)
      fail("cannot reach the rendezvous store at ", host_, ":", port_,
           " (served by rank 0) within ", seconds(timeout_), ": ", lastError);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Bounds every request; rank 0 answers at once when it is alive.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  bool request(char op, const std::string &key, const std::vector<char> *value,
               std::vector<char> &reply) {
    std::lock_guard<std::mutex> lock(clientMutex_);
    if (fd_ < 0)
      fail("the rendezvous store at ", host_, ":", port_,
           " (served by rank 0) is unreachable: ", brokenReason_);
    bool ok = writeAll(fd_, &op, 1) &&
              writeString(fd_, key.data(), static_cast<uint32_t>(key.size())) &&
              (!value || writeString(fd_, value->data(),
                                     static_cast<uint32_t>(value->size())));
    char status = 0;
    ok = ok && readAll(fd_, &status, 1);
    if (ok && op == 'G' && status) {
      uint32_t n;
      ok = readAll(fd_, &n, sizeof n) && n <= kMaxStoreString;
      if (ok) {
        reply.resize(n);
        ok = readAll(fd_, reply.data(), n);
      }
    }
    if (!ok) {
      brokenReason_ = errno ? std::strerror(errno) : "connection closed";
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        brokenReason_ = "no answer within " + seconds(timeout_);
      ::close(fd_);
      fd_ = -1;
      fail("the rendezvous store at ", host_, ":", port_,
           " (served by rank 0) is unreachable: ", brokenReason_);
    }
    return status != 0;
  }

  std::string host_;
  int port_;
  bool serving_;
  // Server side.
  std::mutex mutex_;
  StoreMap map_;
  int listenFd_ = -1;
  int wakeFds_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::thread acceptThread_;
  std::vector<std::thread> clientThreads_;
  std::vector<int> clientFds_;
  // Client side.
  std::mutex clientMutex_;
  int fd_ = -1;
  std::string brokenReason_;
};

} // namespace

std::shared_ptr<KVStore> openTcpStore(const std::string &host, int port,
                                      bool serve, milliseconds timeout) {
  return std::make_shared<TcpStore>(host, port, serve, timeout);
}

} // namespace fresco
