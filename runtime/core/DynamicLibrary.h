//===- DynamicLibrary.h - dlopen the first library that loads ---*- C++ -*-===//
//
// cuBLASLt, cuDNN and NCCL are loaded at run time, not linked: linked, they
// would cost every process their loading time (hundreds of MB), CPU runs
// included, and a build without them could not start at all.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_DYNAMICLIBRARY_H
#define FRESCO_RUNTIME_CORE_DYNAMICLIBRARY_H

#include <dlfcn.h>

#include <initializer_list>
#include <string>

namespace fresco {

/// dlopen's (RTLD_NOW | RTLD_LOCAL) the first of `candidates` (paths or
/// sonames) that loads; null when none does, with each one's failure in
/// `tried` ("a: reason; b: reason").
inline void *openFirstLibrary(std::initializer_list<const char *> candidates,
                              std::string &tried) {
  for (const char *c : candidates) {
    if (void *lib = dlopen(c, RTLD_NOW | RTLD_LOCAL))
      return lib;
    const char *why = dlerror();
    tried += std::string(tried.empty() ? "" : "; ") + (why ? why : c);
  }
  return nullptr;
}

/// The path of the loaded library that defines `symbol` (a dlsym result),
/// for logs that must say which copy was loaded; "?" when dladdr cannot
/// tell.
inline std::string libraryPathOf(const void *symbol) {
  Dl_info info{};
  if (symbol && dladdr(symbol, &info) && info.dli_fname)
    return info.dli_fname;
  return "?";
}

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_DYNAMICLIBRARY_H
