#include "livemod/error.h"

#include <gtest/gtest.h>

#include "testing/matchers.h"

namespace livemod {
namespace {

TEST(Error, MessageJoinsFileCauseAndRemedy) {
  error e(errc::truncated, "libcalc.so", "the section headers end past the file (4096 > 1000)",
          "rebuild the module; the file was cut short");
  EXPECT_EQ(e.message(),
            "libcalc.so: the section headers end past the file (4096 > 1000); rebuild the module; "
            "the file was cut short");
  EXPECT_EQ(e.describe().substr(0, 15), "E202 truncated:");
}

TEST(Error, MessageOmitsEmptyParts) {
  EXPECT_EQ(error(errc::bad_module_name, "", "names may not contain '/'").message(),
            "names may not contain '/'");
}

TEST(Error, KeepsOsText) {
  error e = error(errc::load_failed, "x.so", "dlopen failed").with_os_text("x.so: oops");
  EXPECT_EQ(e.os_text(), "x.so: oops");
}

TEST(Error, EveryCodeHasAName) {
  for (int c = 100; c < 800; ++c) {
    auto name = to_string(static_cast<errc>(c));
    EXPECT_NE(name, "") << c;
  }
  EXPECT_EQ(to_string(errc::wrong_arch), "wrong_arch");
  EXPECT_EQ(to_string(static_cast<errc>(999)), "unknown");
}

TEST(Error, ResultCarriesTheError) {
  auto f = []() -> result<int> { return fail(errc::empty_file, "a.so", "the file is empty"); };
  EXPECT_THAT(f(), testing_support::HasCode(errc::empty_file));
  auto g = []() -> result<int> { return 7; };
  EXPECT_THAT(g(), testing_support::IsOk());
}

}  // namespace
}  // namespace livemod
