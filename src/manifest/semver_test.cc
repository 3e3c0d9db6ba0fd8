#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "livemod/manifest.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

semver v(std::string_view text) {
  auto r = parse_semver(text);
  EXPECT_THAT(r, IsOk()) << text;
  return r ? *r : semver{};
}

TEST(SemverTest, ParsesTheParts) {
  semver s = v("1.22.333-rc.1.x-y+build.007");
  EXPECT_EQ(s.major, 1u);
  EXPECT_EQ(s.minor, 22u);
  EXPECT_EQ(s.patch, 333u);
  EXPECT_THAT(s.prerelease, ElementsAre("rc", "1", "x-y"));
  EXPECT_EQ(s.build, "build.007");  // leading zeros are fine in build metadata
  EXPECT_EQ(s.to_string(), "1.22.333-rc.1.x-y+build.007");
}

TEST(SemverTest, ParsesBuildWithoutPrerelease) {
  semver s = v("1.0.0+20130313144700");
  EXPECT_TRUE(s.prerelease.empty());
  EXPECT_EQ(s.build, "20130313144700");
  EXPECT_EQ(v("0.0.0").to_string(), "0.0.0");
}

TEST(SemverTest, ParsesTheLargestNumbers) {
  semver s = v("18446744073709551615.0.0");
  EXPECT_EQ(s.major, UINT64_MAX);
  EXPECT_THAT(parse_semver("18446744073709551616.0.0"),
              HasCodeAndMessage(errc::manifest_bad_version, HasSubstr("too large")));
}

TEST(SemverTest, OrdersTheSpecExampleChain) {
  // semver.org 2.0, item 11.
  std::vector<std::string> chain = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                    "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                    "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                    "1.1.0",       "2.0.0",         "10.0.0"};
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    EXPECT_LT(v(chain[i]), v(chain[i + 1])) << chain[i] << " < " << chain[i + 1];
    EXPECT_GT(v(chain[i + 1]), v(chain[i]));
    EXPECT_NE(v(chain[i]), v(chain[i + 1]));
  }
}

TEST(SemverTest, ComparesNumbersNumericallyAndIdentifiersByAscii) {
  EXPECT_LT(v("1.9.0"), v("1.10.0"));
  EXPECT_LT(v("1.0.0-2"), v("1.0.0-10"));
  EXPECT_LT(v("1.0.0-99999999999999999999"), v("1.0.0-100000000000000000000"));
  EXPECT_LT(v("1.0.0-999"), v("1.0.0-a"));       // numeric below alphanumeric
  EXPECT_LT(v("1.0.0-Beta"), v("1.0.0-alpha"));  // ASCII: uppercase first
  EXPECT_LT(v("1.0.0-alpha"), v("1.0.0-alpha.0"));
}

TEST(SemverTest, IgnoresBuildMetadataInComparison) {
  EXPECT_EQ(v("1.0.0+a"), v("1.0.0+b"));
  EXPECT_EQ(v("1.0.0-rc.1+a"), v("1.0.0-rc.1"));
  EXPECT_TRUE((v("1.0.0+x") <=> v("1.0.0")) == 0);
}

struct bad_version {
  const char* text;
  const char* reason;
};

class BadSemverTest : public ::testing::TestWithParam<bad_version> {};

TEST_P(BadSemverTest, FailsWithTheReason) {
  auto r = parse_semver(GetParam().text);
  EXPECT_THAT(r, HasCodeAndMessage(errc::manifest_bad_version, HasSubstr(GetParam().reason)));
  if (!r) {
    EXPECT_THAT(r.error().message(), HasSubstr(std::string("\"") + GetParam().text + "\""));
    EXPECT_THAT(r.error().remedy(), HasSubstr("major.minor.patch"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Semver, BadSemverTest,
    ::testing::Values(bad_version{"", "empty"}, bad_version{"1", "1 number"},
                      bad_version{"1.2", "2 numbers"}, bad_version{"1.2.3.4", "more than three"},
                      bad_version{"01.2.3", "major version \"01\" has a leading zero"},
                      bad_version{"1.02.3", "minor version \"02\" has a leading zero"},
                      bad_version{"1.2.03", "patch version \"03\" has a leading zero"},
                      bad_version{"1.2.3-01", "identifier \"01\" has a leading zero"},
                      bad_version{"v1.2.3", "not a number"}, bad_version{"1.x.3", "not a number"},
                      bad_version{"1..3", "minor version is empty"},
                      bad_version{"-1.2.3", "major version is empty"},
                      bad_version{"1.2.3-", "pre-release after \"-\" is empty"},
                      bad_version{"1.2.3+", "build metadata after \"+\" is empty"},
                      bad_version{"1.2.3-rc..1", "empty identifier"},
                      bad_version{"1.2.3-rc.1+b..1", "empty identifier"},
                      bad_version{"1.2.3-rc_1", "other than letters"},
                      bad_version{"1.2.3+b!", "other than letters"},
                      bad_version{" 1.2.3", "not a number"}, bad_version{"1.2.3 ", "not a number"},
                      bad_version{"1.2.3-rc+b+c", "other than letters"}));

}  // namespace
}  // namespace livemod
