//===- FuzzUtil.h - Helpers shared by the libFuzzer targets -----*- C++ -*-===//
//
// Readers that take a folder (checkpoints, tokenizers) are fed through files
// in a scratch folder of this process. Inputs that hold several files split
// on kPartSeparator, which the seed corpora use between their parts.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_FUZZ_FUZZUTIL_H
#define FRESCO_TEST_FUZZ_FUZZUTIL_H

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace fresco::fuzz {

inline const std::string kPartSeparator = "\n#~fresco-part~#\n";

/// `data` split on kPartSeparator into exactly `n` parts (missing ones are
/// empty; the last takes the rest).
inline std::vector<std::string> splitParts(const uint8_t *data, size_t size,
                                           size_t n) {
  std::string all(reinterpret_cast<const char *>(data), size);
  std::vector<std::string> parts;
  size_t pos = 0;
  while (parts.size() + 1 < n) {
    size_t at = all.find(kPartSeparator, pos);
    if (at == std::string::npos)
      break;
    parts.push_back(all.substr(pos, at - pos));
    pos = at + kPartSeparator.size();
  }
  parts.push_back(all.substr(std::min(pos, all.size())));
  parts.resize(n);
  return parts;
}

/// This process's scratch folder (under TMPDIR), emptied on every call and
/// removed at exit.
inline std::filesystem::path freshScratchFolder() {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() /
                 ("fresco-fuzz-" + std::to_string(::getpid()));
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(fs::temp_directory_path() /
                         ("fresco-fuzz-" + std::to_string(::getpid())),
                     ec);
    });
    return d;
  }();
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  return dir;
}

inline void writeFile(const std::filesystem::path &path,
                      const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

} // namespace fresco::fuzz

#endif // FRESCO_TEST_FUZZ_FUZZUTIL_H
