// GoogleTest matchers for livemod::result, in the manner of abseil's StatusIs:
//   EXPECT_THAT(read_image(p), HasCode(errc::truncated));
//   EXPECT_THAT(read_image(p), HasCodeAndMessage(errc::truncated, HasSubstr("section")));
#pragma once

#include <gmock/gmock.h>

#include <ostream>

#include "livemod/error.h"

namespace livemod {
inline void PrintTo(const error& e, std::ostream* os) { *os << e.describe(); }
}  // namespace livemod

namespace livemod::testing_support {

MATCHER_P(HasCode, code, "fails with " + std::string(::livemod::to_string(code))) {
  if (arg.has_value()) {
    *result_listener << "succeeded";
    return false;
  }
  *result_listener << arg.error().describe();
  return arg.error().code() == code;
}

MATCHER_P2(HasCodeAndMessage, code, message_matcher,
           "fails with " + std::string(::livemod::to_string(code))) {
  if (arg.has_value()) {
    *result_listener << "succeeded";
    return false;
  }
  *result_listener << arg.error().describe();
  return arg.error().code() == code &&
         ::testing::ExplainMatchResult(message_matcher, arg.error().message(), result_listener);
}

MATCHER(IsOk, "succeeds") {
  if (!arg.has_value()) {
    *result_listener << arg.error().describe();
    return false;
  }
  return true;
}

}  // namespace livemod::testing_support
