//===- TestUtil.h - Helpers shared by the unit tests ------------*- C++ -*-===//
//
// Temporary folders, whole-file reads and writes, checks of fresco::Error
// messages, and the Python probe of the interop tests. FRESCO_SOURCE_DIR
// (the repository root) is defined for every unit test by
// test/unit/CMakeLists.txt.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_TESTUTIL_H
#define FRESCO_TEST_UNIT_TESTUTIL_H

#include "runtime/core/Error.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#ifndef FRESCO_SOURCE_DIR
#error "FRESCO_SOURCE_DIR must name the repository root"
#endif

namespace fresco {
namespace test {

/// A fresh directory under $TMPDIR (or /tmp), removed on destruction.
class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base && *base ? base : "/tmp") + "/fresco-test-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  std::string operator/(const std::string &name) const {
    return path_ + "/" + name;
  }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

/// The whole file (empty when it cannot be read).
inline std::vector<uint8_t> readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

/// Creates or replaces `path` with `bytes`.
inline void writeBytes(const std::string &path,
                       const std::vector<uint8_t> &bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char *>(bytes.data()),
             std::streamsize(bytes.size()));
}

/// Creates or replaces `path` with `text`.
inline void writeText(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

/// The message of the fresco::Error `f` throws ("" when it throws none).
inline std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

/// Expects `fn` to throw fresco::Error whose message contains every one of
/// `needles`; returns the message ("" after a failure).
inline std::string expectError(const std::function<void()> &fn,
                               const std::vector<std::string> &needles) {
  try {
    fn();
  } catch (const Error &e) {
    std::string msg = e.what();
    for (const std::string &n : needles)
      EXPECT_NE(msg.find(n), std::string::npos)
          << "message \"" << msg << "\" lacks \"" << n << "\"";
    return msg;
  } catch (const std::exception &e) {
    ADD_FAILURE() << "threw a non-fresco exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

/// The repository root (for .venv and the sources tests read).
inline std::string repoRoot() { return FRESCO_SOURCE_DIR; }

/// A Python that can import every one of `modules`, trying $FRESCO_PYTHON,
/// <repo>/.venv/bin/python and /usr/bin/python3 in turn; or "" with `why`
/// set to a message for GTEST_SKIP.
inline std::string findPython(std::initializer_list<const char *> modules,
                              std::string &why) {
  std::string names, imports;
  size_t i = 0;
  for (const char *m : modules) {
    names += i == 0 ? "" : i + 1 == modules.size() ? " and " : ", ";
    imports += i == 0 ? "" : ", ";
    names += m;
    imports += m;
    ++i;
  }
  std::vector<std::string> candidates;
  if (const char *env = std::getenv("FRESCO_PYTHON"))
    candidates.push_back(env);
  candidates.push_back(repoRoot() + "/.venv/bin/python");
  candidates.push_back("/usr/bin/python3");
  why = "no Python with " + names + " (tried";
  for (const std::string &py : candidates) {
    why += " " + py;
    if (!std::filesystem::exists(py))
      continue;
    std::string cmd =
        "'" + py + "' -c 'import " + imports + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0)
      return py;
  }
  why += "; set FRESCO_PYTHON to one)";
  return "";
}

/// Writes `script` to `dir`/script.py and runs it with `py`, the folder as
/// its argument; returns the exit status.
inline int runPython(const std::string &py, const TempDir &dir,
                     const std::string &script) {
  const std::string scriptPath = dir / "script.py";
  writeText(scriptPath, script);
  const std::string cmd =
      "'" + py + "' '" + scriptPath + "' '" + dir.path() + "'";
  return std::system(cmd.c_str());
}

} // namespace test
} // namespace fresco

#endif // FRESCO_TEST_UNIT_TESTUTIL_H
