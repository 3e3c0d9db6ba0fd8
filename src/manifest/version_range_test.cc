#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "livemod/manifest.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using ::testing::HasSubstr;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

struct range_case {
  const char* range;
  const char* version;
  bool expected;
};

std::ostream& operator<<(std::ostream& os, const range_case& c) {
  return os << "\"" << c.range << "\" contains " << c.version << ": " << c.expected;
}

class RangeContainsTest : public ::testing::TestWithParam<range_case> {};

TEST_P(RangeContainsTest, Decides) {
  const range_case& c = GetParam();
  auto range = parse_version_range(c.range);
  ASSERT_THAT(range, IsOk());
  auto version = parse_semver(c.version);
  ASSERT_THAT(version, IsOk());
  EXPECT_EQ(range->contains(*version), c.expected)
      << c.range << " means " << range->canonical() << "; version " << c.version;
}

INSTANTIATE_TEST_SUITE_P(
    Ranges, RangeContainsTest,
    ::testing::Values(
        // Plain comparators, and several that all must hold.
        range_case{"1.2.3", "1.2.3", true}, range_case{"=1.2.3", "1.2.3", true},
        range_case{"=1.2.3", "1.2.4", false}, range_case{"1.2.3", "1.2.3+build", true},
        range_case{">1.2.3", "1.2.4", true}, range_case{">1.2.3", "1.2.3", false},
        range_case{">=1.2.3", "1.2.3", true}, range_case{"<1.2.3", "1.2.2", true},
        range_case{"<1.2.3", "1.2.3", false}, range_case{"<=1.2.3", "1.2.3", true},
        range_case{">=1.2 <2", "1.2.0", true}, range_case{">=1.2 <2", "1.99.99", true},
        range_case{">=1.2 <2", "2.0.0", false}, range_case{">=1.2 <2", "1.1.9", false},
        range_case{">= 1.2  < 2", "1.5.0", true}, range_case{">=1.2.0 <=1.2.0", "1.2.0", true},
        // Caret: the first non-zero number is fixed.
        range_case{"^1.2.3", "1.2.3", true}, range_case{"^1.2.3", "1.9.0", true},
        range_case{"^1.2.3", "2.0.0", false}, range_case{"^1.2.3", "1.2.2", false},
        range_case{"^1.2", "1.2.0", true}, range_case{"^1.2", "1.1.9", false},
        range_case{"^1", "1.99.0", true}, range_case{"^1", "2.0.0", false},
        range_case{"^0.2.3", "0.2.9", true}, range_case{"^0.2.3", "0.3.0", false},
        range_case{"^0.2", "0.2.0", true}, range_case{"^0.2", "0.3.0", false},
        range_case{"^0.0.3", "0.0.3", true}, range_case{"^0.0.3", "0.0.4", false},
        range_case{"^0.0", "0.0.9", true}, range_case{"^0.0", "0.1.0", false},
        range_case{"^0", "0.9.0", true}, range_case{"^0", "1.0.0", false},
        range_case{"^0.0.x", "0.0.5", true}, range_case{"^1.x", "1.5.0", true},
        range_case{"^1.x", "2.0.0", false}, range_case{"^*", "3.0.0", true},
        // Tilde: patch updates only when the minor is given.
        range_case{"~1.2.3", "1.2.9", true}, range_case{"~1.2.3", "1.3.0", false},
        range_case{"~1.2.3", "1.2.2", false}, range_case{"~1.2", "1.2.0", true},
        range_case{"~1.2", "1.3.0", false}, range_case{"~1", "1.9.0", true},
        range_case{"~1", "2.0.0", false}, range_case{"~0.2.3", "0.2.5", true},
        range_case{"~0.2.3", "0.3.0", false},
        // X-ranges and partials.
        range_case{"*", "0.0.0", true}, range_case{"*", "99.1.2", true},
        range_case{"x", "1.0.0", true}, range_case{"1.x", "1.0.0", true},
        range_case{"1.x", "2.0.0", false}, range_case{"1.X", "1.3.4", true},
        range_case{"1.2.*", "1.2.7", true}, range_case{"1.2.*", "1.3.0", false},
        range_case{"1.2", "1.2.7", true}, range_case{"1", "1.7.0", true},
        range_case{"1", "0.9.0", false}, range_case{"1.x.x", "1.4.4", true},
        range_case{">1", "2.0.0", true}, range_case{">1", "1.9.9", false},
        range_case{">1.2", "1.3.0", true}, range_case{">1.2", "1.2.9", false},
        range_case{">=1.2", "1.2.0", true}, range_case{"<1.2", "1.1.9", true},
        range_case{"<1.2", "1.2.0", false}, range_case{"<=1.2", "1.2.9", true},
        range_case{"<=1.2", "1.3.0", false}, range_case{"<=1", "1.9.0", true},
        range_case{"<=1", "2.0.0", false}, range_case{">=*", "0.0.1", true},
        // Hyphen ranges.
        range_case{"1.2.3 - 2.3.4", "1.2.3", true}, range_case{"1.2.3 - 2.3.4", "2.3.4", true},
        range_case{"1.2.3 - 2.3.4", "2.3.5", false}, range_case{"1.2 - 2.3", "2.3.9", true},
        range_case{"1.2 - 2.3", "2.4.0", false}, range_case{"1.2 - 2", "2.9.9", true},
        range_case{"1.2 - 2", "1.1.0", false}, range_case{"* - 2", "0.0.1", true},
        // Alternatives.
        range_case{"^1.2 || ^3", "3.1.0", true}, range_case{"^1.2 || ^3", "2.0.0", false},
        range_case{"1.0.0 || 2.0.0 || >=5", "2.0.0", true},
        range_case{"1.0.0 || 2.0.0 || >=5", "4.0.0", false},
        range_case{"1.0.0||2.0.0", "1.0.0", true},
        // Pre-releases: only when a comparator names one of the same major.minor.patch.
        range_case{"*", "1.0.0-rc.1", false}, range_case{"^1.2.3", "1.3.0-beta", false},
        range_case{"^1.2.3", "2.0.0-rc.1", false}, range_case{">=1.2 <2", "2.0.0-rc.1", false},
        range_case{"^1.2.3-beta.2", "1.2.3-beta.4", true},
        range_case{"^1.2.3-beta.2", "1.2.3-beta.1", false},
        range_case{"^1.2.3-beta.2", "1.2.4-beta.9", false},
        range_case{"^1.2.3-beta.2", "1.2.4", true},
        range_case{">1.2.3-alpha.3", "1.2.3-alpha.7", true},
        range_case{">1.2.3-alpha.3", "3.4.5-alpha.9", false},
        range_case{">1.2.3-alpha.3", "3.4.5", true}, range_case{"~1.2.3-beta", "1.2.3-rc.1", true},
        range_case{"~1.2.3-beta", "1.2.3", true}, range_case{">=1.0.0-rc.1 <2", "1.0.0-rc.2", true},
        range_case{">=1.0.0-rc.1 <2", "1.5.0-rc.2", false},
        range_case{"1.0.0-rc.1 || 2.x", "1.0.0-rc.1", true},
        range_case{"1.0.0-rc.1 || 2.x", "2.0.0-rc.1", false},
        range_case{"<2.0.0-beta", "2.0.0-alpha", true},
        range_case{"=1.2.3-rc.1+build", "1.2.3-rc.1", true}));

TEST(VersionRangeTest, DefaultIsAny) {
  version_range any;
  EXPECT_EQ(any.text(), "*");
  EXPECT_TRUE(any.contains(*parse_semver("0.0.0")));
  EXPECT_TRUE(any.contains(*parse_semver("123.4.5")));
  EXPECT_FALSE(any.contains(*parse_semver("1.0.0-rc.1")));
}

TEST(VersionRangeTest, KeepsTheTextAndExplainsIt) {
  auto r = parse_version_range("^1.2 || ~0.2.3 || 3");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->text(), "^1.2 || ~0.2.3 || 3");
  EXPECT_EQ(r->canonical(), ">=1.2.0 <2.0.0-0 || >=0.2.3 <0.3.0-0 || >=3.0.0 <4.0.0-0");
  EXPECT_EQ(parse_version_range("*")->canonical(), "*");
  EXPECT_EQ(parse_version_range("=1.2.3")->canonical(), "=1.2.3");
  EXPECT_EQ(parse_version_range("^0.0.3")->canonical(), ">=0.0.3 <0.0.4-0");
  EXPECT_EQ(parse_version_range(">1.2")->canonical(), ">=1.3.0");
  EXPECT_EQ(parse_version_range("<=1.2")->canonical(), "<1.3.0-0");
  EXPECT_EQ(parse_version_range("1.2 - 2.3.4")->canonical(), ">=1.2.0 <=2.3.4");
}

struct bad_range {
  const char* text;
  const char* reason;
};

class BadRangeTest : public ::testing::TestWithParam<bad_range> {};

TEST_P(BadRangeTest, FailsWithTheReason) {
  auto r = parse_version_range(GetParam().text);
  EXPECT_THAT(r, HasCodeAndMessage(errc::manifest_bad_range, HasSubstr(GetParam().reason)));
  if (!r) {
    EXPECT_THAT(r.error().cause(),
                HasSubstr(std::string("\"") + GetParam().text + "\" is not a version range"));
    EXPECT_THAT(r.error().remedy(), HasSubstr("^1.2"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ranges, BadRangeTest,
    ::testing::Values(bad_range{"", "empty"}, bad_range{"   ", "empty"},
                      bad_range{"1.0 ||", "alternative next to \"||\" is empty"},
                      bad_range{"|| 1.0", "alternative next to \"||\" is empty"},
                      bad_range{">=", "\">=\" has no version after it"},
                      bad_range{">=1.2 <", "\"<\" has no version after it"},
                      bad_range{"1.2.3.4", "more than three parts"},
                      bad_range{"1.x.3", "number after a wildcard"},
                      bad_range{"^01.2", "\"01\" has a leading zero"},
                      bad_range{"1.a", "\"a\" is neither a number nor a wildcard"},
                      bad_range{"v1.2.3", "starts with \"v\""},
                      bad_range{">*", "matches no version"}, bad_range{"<x", "matches no version"},
                      bad_range{"1.2-rc.1", "not all of major.minor.patch"},
                      bad_range{"1.2.3-01", "leading zero"}, bad_range{">=>1.2", "two operators"},
                      bad_range{"1 - 2 - 3", "hyphen range must be the whole alternative"},
                      bad_range{"1.0 | 2.0", "\"|\" is neither"},
                      bad_range{"1.0, 2.0", "\"0,\" is neither"},
                      bad_range{">18446744073709551615", "has no next version"},
                      bad_range{"99999999999999999999", "too large"}));

}  // namespace
}  // namespace livemod
