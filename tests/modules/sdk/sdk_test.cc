// The SDK's C++ face seen from the host's side: entry points made by LIVEMOD_ON_LOAD and
// LIVEMOD_ON_UNLOAD, called through their C pointers, never let an exception out. The module is
// loaded with dlopen directly so this test depends on nothing but the SDK headers.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "livemod/sdk/module.h"

namespace {

using ::testing::HasSubstr;

struct log_line {
  int level;
  std::string text;
};

// A host API whose logger records what the module says.
struct recording_host {
  std::vector<log_line> lines;
  livemod_host_api api{};  // members this test does not set stay zero (NULL)

  recording_host() {
    api.size = sizeof(livemod_host_api);
    api.abi_version = LIVEMOD_ABI_VERSION;
    api.log = &record;
    api.host = this;
  }
  recording_host(const recording_host&) = delete;
  recording_host& operator=(const recording_host&) = delete;

  static void record(void* self, int level, const char* message) {
    static_cast<recording_host*>(self)->lines.push_back({level, message});
  }
};

class SdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = dlopen(LIVEMOD_FIXTURE_SDK_THROWING, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
  }
  void TearDown() override {
    if (handle_) dlclose(handle_);
  }

  template <class T>
  T symbol(const char* name) {
    void* p = dlsym(handle_, name);
    EXPECT_NE(p, nullptr) << name << ": " << dlerror();
    return reinterpret_cast<T>(p);
  }
  livemod_on_load_fn on_load(const char* name) { return symbol<livemod_on_load_fn>(name); }
  int calls() { return symbol<int (*)()>("throwing_calls")(); }

  void* handle_ = nullptr;
};

TEST_F(SdkTest, StdExceptionBecomesAnErrorCodeAndALogLine) {
  recording_host host;
  livemod_on_load_fn load = on_load("throwing_on_load");
  ASSERT_NE(load, nullptr);
  int before = calls();
  EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION), -LIVEMOD_E_EXCEPTION);
  EXPECT_EQ(calls(), before + 1);
  ASSERT_EQ(host.lines.size(), 1u);
  EXPECT_EQ(host.lines[0].level, LIVEMOD_LOG_ERROR);
  EXPECT_THAT(host.lines[0].text, HasSubstr("throwing_on_load threw an exception: config file "
                                            "/etc/throwing.conf is missing"));
  // The process is fine: the same entry point can be called again, and fails the same way.
  EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION), -LIVEMOD_E_EXCEPTION);
  EXPECT_EQ(calls(), before + 2);
}

TEST_F(SdkTest, AnyOtherExceptionIsCaughtToo) {
  recording_host host;
  livemod_on_load_fn load = on_load("throwing_on_load_int");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION), -LIVEMOD_E_EXCEPTION);
  ASSERT_EQ(host.lines.size(), 1u);
  EXPECT_THAT(host.lines[0].text, HasSubstr("not a std::exception"));
}

TEST_F(SdkTest, WorksWithoutAHostApi) {
  livemod_on_load_fn load = on_load("throwing_on_load");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load(nullptr, LIVEMOD_ABI_VERSION), -LIVEMOD_E_EXCEPTION);
  livemod_on_load_fn ok = on_load("throwing_on_load_ok");
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok(nullptr, LIVEMOD_ABI_VERSION), LIVEMOD_ABI_VERSION);
}

TEST_F(SdkTest, IgnoresALoggerTheHostDidNotDeclare) {
  // A host whose table is smaller than the logger members: the module must not read them.
  recording_host host;
  host.api.size = sizeof(uint32_t) * 2;
  livemod_on_load_fn load = on_load("throwing_on_load");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION), -LIVEMOD_E_EXCEPTION);
  EXPECT_TRUE(host.lines.empty());
}

TEST_F(SdkTest, FailureKeepsItsCode) {
  recording_host host;
  livemod_on_load_fn load = on_load("throwing_on_load_failure");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION), -LIVEMOD_E_FAILED);
  ASSERT_EQ(host.lines.size(), 1u);
  EXPECT_THAT(host.lines[0].text, HasSubstr("throwing_on_load_failure failed: port 8080 is taken"));

  livemod_on_load_fn code = on_load("throwing_on_load_code");
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(code(&host.api, LIVEMOD_ABI_VERSION), -LIVEMOD_E_FAILED);
}

TEST_F(SdkTest, SuccessAnswersTheAbiVersion) {
  recording_host host;
  livemod_on_load_fn load = on_load("throwing_on_load_ok");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION), LIVEMOD_ABI_VERSION);
  ASSERT_EQ(host.lines.size(), 1u);
  EXPECT_EQ(host.lines[0].level, LIVEMOD_LOG_INFO);
  EXPECT_EQ(host.lines[0].text, "loaded");
}

TEST_F(SdkTest, DependencyStateComesFromTheHost) {
  livemod_on_load_fn load = on_load("throwing_on_load_asks");
  ASSERT_NE(load, nullptr);
  struct answer {
    int32_t value;
    const char* logged;
  };
  for (answer a : {answer{1, "math present"}, answer{0, "math absent"},
                   answer{-1, "math not listed"}, answer{7, "math unknown"}}) {
    recording_host host;
    static int32_t reply;
    reply = a.value;
    host.api.dependency_present = [](void*, const char* name) -> int32_t {
      return std::string(name) == "math" ? reply : -1;
    };
    EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION), LIVEMOD_ABI_VERSION);
    ASSERT_EQ(host.lines.size(), 1u);
    EXPECT_EQ(host.lines[0].text, a.logged);
  }
  // An older host, whose table ends before dependency_present: the module must not read it.
  recording_host old_host;
  old_host.api.size = offsetof(livemod_host_api, dependency_present);
  old_host.api.dependency_present = [](void*, const char*) -> int32_t { return 1; };
  EXPECT_EQ(load(&old_host.api, LIVEMOD_ABI_VERSION), LIVEMOD_ABI_VERSION);
  ASSERT_EQ(old_host.lines.size(), 1u);
  EXPECT_EQ(old_host.lines[0].text, "math unknown");
}

TEST_F(SdkTest, AbiMismatchIsReportedWithoutRunningTheModule) {
  recording_host host;
  host.api.abi_version = LIVEMOD_ABI_VERSION + 1;
  livemod_on_load_fn load = on_load("throwing_on_load");
  ASSERT_NE(load, nullptr);
  int before = calls();
  EXPECT_EQ(load(&host.api, LIVEMOD_ABI_VERSION + 1), -LIVEMOD_E_ABI);
  EXPECT_EQ(calls(), before);  // the author's function never ran
  ASSERT_EQ(host.lines.size(), 1u);
  EXPECT_THAT(host.lines[0].text,
              HasSubstr("the host requested livemod abi 2, this module was built for abi 1"));
}

TEST_F(SdkTest, OnUnloadSwallowsTheException) {
  auto unload = symbol<livemod_on_unload_fn>("throwing_on_unload");
  ASSERT_NE(unload, nullptr);
  int before = calls();
  ::testing::internal::CaptureStderr();
  unload();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(calls(), before + 1);
  EXPECT_THAT(err, HasSubstr("throwing_on_unload threw an exception: unload went wrong"));
}

}  // namespace
