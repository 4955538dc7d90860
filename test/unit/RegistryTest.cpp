//===- RegistryTest.cpp - Backends and communicators by name --------------===//
#include "runtime/backends/BackendRegistry.h"
#include "runtime/comm/registry/CommunicatorRegistry.h"
#include "runtime/core/Error.h"

#include <gtest/gtest.h>

using namespace fresco;

TEST(BackendRegistry, KnowsEveryNameAndWhatItsMemoryNeeds) {
  const BackendRegistry &r = BackendRegistry::global();
  EXPECT_EQ(r.nameList(), "cpu, cuda or cpu-staged");
  EXPECT_EQ(r.get("cuda").nativeCommunicator, "nccl");
  EXPECT_EQ(r.get("cpu").nativeCommunicator, "");
  EXPECT_TRUE(r.get("cpu-staged").hostAddressable);
  EXPECT_FALSE(r.get("cpu").hostAddressable);
  // What fresco-run --calibrate records the CPU model and threads for.
  EXPECT_TRUE(r.get("cpu").computesOnHost);
  EXPECT_TRUE(r.get("cpu-staged").computesOnHost);
  EXPECT_FALSE(r.get("cuda").computesOnHost);
  EXPECT_EQ(r.nameList([](const BackendEntry &e) { return e.hostAddressable; }),
            "cpu-staged");
  EXPECT_EQ(r.find("tpu"), nullptr);
  try {
    r.get("tpu");
    FAIL();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(),
                 "unknown backend 'tpu' (expected cpu, cuda or cpu-staged)");
  }
}

TEST(BackendRegistry, CreatesByName) {
  const BackendRegistry &r = BackendRegistry::global();
  EXPECT_EQ(r.get("cpu").create({})->name(), "cpu");
  BackendConfig bf16;
  bf16.precision = GemmPrecision::BF16;
  EXPECT_EQ(r.get("cpu-staged").create(bf16)->floatStorage(), DType::BF16);
  try {
    r.get("cpu").create(bf16);
    FAIL();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "--dtype bf16: the cpu backend computes in f32 "
                           "(use --backend cuda, or cpu-staged to emulate the "
                           "rounding)");
  }
}

TEST(BackendRegistry, RefusesANameTwice) {
  BackendRegistry r;
  registerBuiltinBackends(r);
  BackendEntry again = r.get("cpu");
  EXPECT_THROW(r.add(again), Error);
}

TEST(CommunicatorRegistry, KnowsEveryName) {
  const CommunicatorRegistry &r = CommunicatorRegistry::global();
  EXPECT_EQ(r.names(),
            (std::vector<std::string>{"nccl", "gloo", "gloo-direct"}));
  EXPECT_TRUE(r.find("nccl")->deviceNative);
  EXPECT_TRUE(r.find("gloo-direct")->needsHostAddressable);
  EXPECT_FALSE(r.find("gloo")->deviceNative);
  EXPECT_EQ(r.find("pigeon"), nullptr);
  // A backend's native communicator is one of them.
  for (const BackendEntry &b : BackendRegistry::global().entries())
    if (!b.nativeCommunicator.empty()) {
      EXPECT_NE(r.find(b.nativeCommunicator), nullptr) << b.name;
    }
}
