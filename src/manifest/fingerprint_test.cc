#include "livemod/sdk/fingerprint.h"

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
using level = fingerprint_difference::severity;

build_fingerprint base() {
  build_fingerprint fp;
  fp.compiler = "gcc";
  fp.compiler_major = 12;
  fp.cxx11_abi = 1;
  fp.arch = "x86_64";
  return fp;
}

TEST(FingerprintTest, ParsesWhatTheMacroWrites) {
  auto fp = parse_fingerprint(LIVEMOD_BUILD_FINGERPRINT_JSON, "test");
  ASSERT_THAT(fp, IsOk());
#if defined(__GNUC__) && !defined(__clang__)
  EXPECT_EQ(fp->compiler, "gcc");
  EXPECT_EQ(fp->compiler_major, __GNUC__);
#endif
  EXPECT_EQ(fp->cxx11_abi, _GLIBCXX_USE_CXX11_ABI);
#if defined(__x86_64__)
  EXPECT_EQ(fp->arch, "x86_64");
#endif
  EXPECT_TRUE(fp->exceptions);
  EXPECT_TRUE(fp->rtti);
#if defined(__SANITIZE_ADDRESS__)
  EXPECT_TRUE(fp->asan);
#else
  EXPECT_FALSE(fp->asan);
#endif
}

TEST(FingerprintTest, LibraryFingerprintMatchesThisTestsBuild) {
  // The library and this test are compiled with the same flags by the same build.
  auto mine = parse_fingerprint(LIVEMOD_BUILD_FINGERPRINT_JSON, "test");
  ASSERT_THAT(mine, IsOk());
  EXPECT_TRUE(compare_fingerprints(library_fingerprint(), *mine).empty());
  EXPECT_EQ(library_fingerprint().arch, mine->arch);
  EXPECT_EQ(library_fingerprint().compiler_major, mine->compiler_major);
}

TEST(FingerprintTest, AllowsMembersFromNewerBuilds) {
  auto fp = parse_fingerprint(
      R"({"compiler":"clang","compiler_major":17,"cxx11_abi":-1,"arch":"aarch64",)"
      R"("exceptions":false,"rtti":false,"glibcxx_debug":true,"asan":false,"tsan":true,)"
      R"("hardening":"x"})",
      "test");
  ASSERT_THAT(fp, IsOk());
  EXPECT_EQ(fp->compiler, "clang");
  EXPECT_EQ(fp->compiler_major, 17);
  EXPECT_EQ(fp->cxx11_abi, -1);
  EXPECT_EQ(fp->arch, "aarch64");
  EXPECT_FALSE(fp->exceptions);
  EXPECT_FALSE(fp->rtti);
  EXPECT_TRUE(fp->glibcxx_debug);
  EXPECT_TRUE(fp->tsan);
}

TEST(FingerprintTest, RefusesMissingAndMistypedFields) {
  EXPECT_THAT(parse_fingerprint(R"({"compiler":"gcc"})", "m.so"),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr("fingerprint field \"compiler_major\" is missing")));
  EXPECT_THAT(
      parse_fingerprint(R"({"compiler":"gcc","compiler_major":"12"})", "m.so"),
      HasCodeAndMessage(errc::manifest_schema,
                        HasSubstr("fingerprint field \"compiler_major\" is \"12\", expected an "
                                  "integer")));
  EXPECT_THAT(parse_fingerprint(R"({"compiler":"gcc","compiler_major":12,"cxx11_abi":2})", "m.so"),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr("\"cxx11_abi\" is 2, expected an integer from -1 to 1")));
  EXPECT_THAT(parse_fingerprint(R"({"compiler":"","compiler_major":12})", "m.so"),
              HasCodeAndMessage(errc::manifest_schema, HasSubstr("a non-empty string")));
  EXPECT_THAT(
      parse_fingerprint("[]", "m.so"),
      HasCodeAndMessage(errc::manifest_schema,
                        HasSubstr("m.so: the fingerprint is an array, expected an object")));
  EXPECT_THAT(parse_fingerprint("{", "m.so"), HasCode(errc::manifest_bad_json));
  // The build writes fingerprints: the remedy is to rebuild, not to edit.
  auto r = parse_fingerprint(R"({"compiler":"gcc"})", "m.so");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().remedy(), HasSubstr("rebuild the module with livemod_add_module"));
}

TEST(FingerprintTest, IdenticalFingerprintsHaveNoDifferences) {
  EXPECT_TRUE(compare_fingerprints(base(), base()).empty());
}

struct severity_case {
  const char* field;
  void (*change_module)(build_fingerprint&);
  level expected;
};

class FingerprintSeverityTest : public ::testing::TestWithParam<severity_case> {};

TEST_P(FingerprintSeverityTest, OneFieldOneDifference) {
  build_fingerprint module = base();
  GetParam().change_module(module);
  auto diffs = compare_fingerprints(module, base());
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].field, GetParam().field);
  EXPECT_EQ(diffs[0].level, GetParam().expected);
  EXPECT_NE(diffs[0].module_value, diffs[0].host_value);
  EXPECT_FALSE(diffs[0].consequence.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Fields, FingerprintSeverityTest,
    ::testing::Values(
        severity_case{"arch", [](build_fingerprint& f) { f.arch = "aarch64"; }, level::error},
        severity_case{"cxx11_abi", [](build_fingerprint& f) { f.cxx11_abi = 0; }, level::error},
        severity_case{"glibcxx_debug", [](build_fingerprint& f) { f.glibcxx_debug = true; },
                      level::error},
        severity_case{"asan", [](build_fingerprint& f) { f.asan = true; }, level::error},
        severity_case{"tsan", [](build_fingerprint& f) { f.tsan = true; }, level::error},
        severity_case{"compiler", [](build_fingerprint& f) { f.compiler = "clang"; },
                      level::warning},
        severity_case{"exceptions", [](build_fingerprint& f) { f.exceptions = false; },
                      level::warning},
        severity_case{"rtti", [](build_fingerprint& f) { f.rtti = false; }, level::warning},
        severity_case{"compiler_major", [](build_fingerprint& f) { f.compiler_major = 13; },
                      level::info}));

TEST(FingerprintTest, UnknownCxx11AbiIsNotADifference) {
  build_fingerprint c_module = base();
  c_module.cxx11_abi = -1;
  EXPECT_TRUE(compare_fingerprints(c_module, base()).empty());
  EXPECT_TRUE(compare_fingerprints(base(), c_module).empty());
}

TEST(FingerprintTest, SanitizedHostLoadingPlainModuleIsOnlyInfo) {
  build_fingerprint host = base();
  host.asan = true;
  auto diffs = compare_fingerprints(base(), host);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].field, "asan");
  EXPECT_EQ(diffs[0].level, level::info);
}

TEST(FingerprintTest, OtherCompilerMajorIsNotReportedBesideOtherCompiler) {
  build_fingerprint module = base();
  module.compiler = "clang";
  module.compiler_major = 17;
  auto diffs = compare_fingerprints(module, base());
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].field, "compiler");
}

TEST(FingerprintTest, MostSevereFirst) {
  build_fingerprint module = base();
  module.compiler_major = 11;  // info
  module.rtti = false;         // warning
  module.arch = "aarch64";     // error
  module.cxx11_abi = 0;        // error
  auto diffs = compare_fingerprints(module, base());
  ASSERT_EQ(diffs.size(), 4u);
  EXPECT_EQ(diffs[0].level, level::error);
  EXPECT_EQ(diffs[0].field, "arch");
  EXPECT_EQ(diffs[1].level, level::error);
  EXPECT_EQ(diffs[1].field, "cxx11_abi");
  EXPECT_EQ(diffs[2].level, level::warning);
  EXPECT_EQ(diffs[3].level, level::info);
  EXPECT_EQ(diffs[3].module_value, "11");
  EXPECT_EQ(diffs[3].host_value, "12");
}

}  // namespace
}  // namespace livemod
