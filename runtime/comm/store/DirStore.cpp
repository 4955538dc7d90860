//===- DirStore.cpp - A rendezvous store in a shared folder ---------------===//
#include "runtime/comm/store/DirStore.h"
#include "runtime/core/Error.h"

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fresco {
namespace {

using std::chrono::milliseconds;

/// One file per key in a folder shared by the (local) ranks. Values appear
/// atomically: written to a temporary name, then renamed.
class DirStore : public KVStore {
public:
  DirStore(const std::string &dir, milliseconds timeout)
      : KVStore(timeout), dir_(dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (!std::filesystem::is_directory(dir_))
      fail("cannot create the rendezvous folder '", dir_,
           "': ", ec ? ec.message() : "not a folder");
  }
  void set(const std::string &key, const std::vector<char> &value) override {
    std::string path = dir_ + "/" + escape(key);
    std::string tmp = dir_ + "/.tmp." + std::to_string(getpid()) + "." +
                      std::to_string(counter_++) + "." + escape(key);
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f.write(value.data(), static_cast<std::streamsize>(value.size()));
      if (!f)
        fail("cannot write '", tmp, "' in the rendezvous folder");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      fail("cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
  }
  bool tryGet(const std::string &key, std::vector<char> &value) override {
    std::ifstream f(dir_ + "/" + escape(key), std::ios::binary);
    if (!f)
      return false;
    value.assign(std::istreambuf_iterator<char>(f),
                 std::istreambuf_iterator<char>());
    return true;
  }
  bool has(const std::string &key) override {
    return access((dir_ + "/" + escape(key)).c_str(), F_OK) == 0;
  }
  std::string where() const override { return "file:" + dir_; }

private:
  /// Keys contain '/' (Gloo's PrefixStore); file names cannot.
  static std::string escape(const std::string &key) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < key.size(); ++i) {
      unsigned char c = key[i];
      if (isalnum(c) || c == '_' || c == '-' || (c == '.' && i > 0)) {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
    return out;
  }

  std::string dir_;
  std::atomic<unsigned> counter_{0};
};

} // namespace

std::shared_ptr<KVStore> openDirStore(const std::string &dir,
                                      milliseconds timeout) {
  return std::make_shared<DirStore>(dir, timeout);
}

} // namespace fresco
