// The thunks and code memory under GoogleTest, on the machine the build runs on, and
// cross-compiled for AArch64 under qemu-user (livemod_thunk_test_aarch64): each build tests
// the one emitter it compiles. The cases live in thunk_cases.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/matchers.h"

#define THUNK_CASE(name) TEST(thunk, name)
#define THUNK_CHECK(condition) EXPECT_TRUE(condition)
#define THUNK_CHECK_EQ(a, b) EXPECT_EQ(a, b)
#define THUNK_REQUIRE(condition) ASSERT_TRUE(condition)
#define THUNK_REQUIRE_OK(result) ASSERT_THAT(result, ::livemod::testing_support::IsOk())
#define THUNK_CHECK_CODE(result, code) \
  EXPECT_THAT(result, ::livemod::testing_support::HasCode(code))

#include "object/thunk_cases.h"
