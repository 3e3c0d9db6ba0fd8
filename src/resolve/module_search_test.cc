#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "livemod/resolve.h"
#include "testing/temp_dir.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;
using testing_support::temp_dir;
namespace fs = std::filesystem;

TEST(ModuleName, AcceptsTheManifestGrammar) {
  for (const char* good : {"math", "a", "_x", "9lives", "lib.v2", "core-utils", "a.b.c"}) {
    EXPECT_THAT(check_module_name(good), IsOk()) << good;
  }
}

TEST(ModuleName, RefusesPathsDotsAndOddCharacters) {
  EXPECT_THAT(check_module_name("../math"),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("path separator")));
  EXPECT_THAT(check_module_name("a\\b"),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("path separator")));
  EXPECT_THAT(check_module_name("a..b"),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("\"..\"")));
  EXPECT_THAT(check_module_name(".."), HasCode(errc::bad_module_name));
  EXPECT_THAT(check_module_name(".hidden"),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("may not start with '.'")));
  EXPECT_THAT(check_module_name("mAth"),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("may not contain 'A'")));
  EXPECT_THAT(check_module_name(""), HasCodeAndMessage(errc::bad_module_name, HasSubstr("empty")));
  EXPECT_THAT(check_module_name(std::string(65, 'a')),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("65 characters")));
  EXPECT_THAT(check_module_name(std::string(64, 'a')), IsOk());
}

TEST(SearchPath, HostThenLivemodPathThenSystem) {
  module_search_path search({"/host/a", "/host/b"}, "/env/a:/env/b", {"/sys/a", "/sys/b"});
  std::vector<std::string> dirs;
  for (const auto& e : search.entries())
    dirs.push_back(e.dir.string() + "@" + std::string(to_string(e.from)));
  EXPECT_THAT(dirs, ElementsAre("/host/a@host", "/host/b@host", "/env/a@LIVEMOD_PATH",
                                "/env/b@LIVEMOD_PATH", "/sys/a@system", "/sys/b@system"));
}

TEST(SearchPath, IgnoresEmptyAndRelativeLivemodPathEntries) {
  module_search_path search({}, ":rel/dir:/ok::./here:", {});
  ASSERT_EQ(search.entries().size(), 1u);
  EXPECT_EQ(search.entries()[0].dir, "/ok");
  EXPECT_THAT(search.ignored(), ElementsAre("", "rel/dir", "", "./here", ""));
}

TEST(SearchPath, SearchesADirectoryOnceAtItsFirstPlace) {
  module_search_path search({"/x/"}, "/y:/x:/y/./", {"/x"});
  std::vector<fs::path> dirs;
  for (const auto& e : search.entries()) dirs.push_back(e.dir);
  EXPECT_THAT(dirs, ElementsAre("/x", "/y"));
}

TEST(SearchPath, SystemDirsLocalFirst) {
  EXPECT_THAT(module_search_path::default_system_dirs(),
              ElementsAre("/usr/local/lib/livemod", "/usr/lib/livemod"));
  module_search_path search({}, "");
  ASSERT_EQ(search.entries().size(), 2u);
  EXPECT_EQ(search.entries()[1].dir, "/usr/lib/livemod");
}

TEST(SearchPath, FromEnvironmentReadsLivemodPath) {
  const char* old = std::getenv("LIVEMOD_PATH");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("LIVEMOD_PATH", "/from/env", 1);
  module_search_path search = module_search_path::from_environment({"/host"});
  if (saved) {
    ::setenv("LIVEMOD_PATH", saved->c_str(), 1);
  } else {
    ::unsetenv("LIVEMOD_PATH");
  }
  ASSERT_GE(search.entries().size(), 2u);
  EXPECT_EQ(search.entries()[0].dir, "/host");
  EXPECT_EQ(search.entries()[1].dir, "/from/env");
  EXPECT_EQ(search.entries()[1].from, module_search_path::origin::environment);
}

TEST(FindModule, MapsTheNameToLibNameSo) {
  module_search_path search({"/h"}, "", {"/s"});
  EXPECT_THAT(module_candidates("math", search), ElementsAre("/h/libmath.so", "/s/libmath.so"));
}

// The same file in every tier; removing it tier by tier shows the order.
TEST(FindModule, FirstHitWinsInTheDocumentedOrder) {
  temp_dir tmp;
  const fs::path host = tmp.write("host/libfoo.so");
  const fs::path env1 = tmp.write("env1/libfoo.so");
  const fs::path env2 = tmp.write("env2/libfoo.so");
  const fs::path sys = tmp.write("sys/libfoo.so");
  module_search_path search({tmp.path() / "host"},
                            (tmp.path() / "env1").string() + ":" + (tmp.path() / "env2").string(),
                            {tmp.path() / "sys"});
  EXPECT_EQ(find_module("foo", search).value(), host);
  fs::remove(host);
  EXPECT_EQ(find_module("foo", search).value(), env1);
  fs::remove(env1);
  EXPECT_EQ(find_module("foo", search).value(), env2);
  fs::remove(env2);
  EXPECT_EQ(find_module("foo", search).value(), sys);
  fs::remove(sys);
  EXPECT_THAT(find_module("foo", search), HasCode(errc::module_not_found));
}

TEST(FindModule, NotFoundListsEveryCandidateInOrder) {
  temp_dir tmp;
  const fs::path h = tmp.path() / "h", e = tmp.path() / "e", s = tmp.path() / "s";
  module_search_path search({h}, e.string(), {s});
  auto found = find_module("foo", search);
  ASSERT_THAT(found, HasCode(errc::module_not_found));
  const std::string message = found.error().message();
  const std::size_t at_h = message.find((h / "libfoo.so").string());
  const std::size_t at_e = message.find((e / "libfoo.so").string());
  const std::size_t at_s = message.find((s / "libfoo.so").string());
  ASSERT_NE(at_h, std::string::npos) << message;
  ASSERT_NE(at_e, std::string::npos) << message;
  ASSERT_NE(at_s, std::string::npos) << message;
  EXPECT_LT(at_h, at_e);
  EXPECT_LT(at_e, at_s);
  EXPECT_THAT(message, HasSubstr("foo: not found in any of 3 places"));
  EXPECT_THAT(message, HasSubstr("put libfoo.so in one of these directories"));
}

TEST(FindModule, PassesOverWhatIsNotAFileAndSaysWhy) {
  temp_dir tmp;
  fs::create_directories(tmp.path() / "a" / "libfoo.so");
  fs::create_directories(tmp.path() / "b");
  fs::create_symlink(tmp.path() / "nowhere", tmp.path() / "b" / "libfoo.so");
  const fs::path real = tmp.write("c/libfoo.so");
  module_search_path search({tmp.path() / "a", tmp.path() / "b"}, "", {});
  auto missing = find_module("foo", search);
  EXPECT_THAT(missing, HasCodeAndMessage(errc::module_not_found, HasSubstr("(a directory)")));
  EXPECT_THAT(missing,
              HasCodeAndMessage(errc::module_not_found, HasSubstr("(a dangling symlink)")));

  // A symlink to a regular file is a module: installs use them for versions.
  fs::create_directories(tmp.path() / "d");
  fs::create_symlink(real, tmp.path() / "d" / "libfoo.so");
  module_search_path with_link({tmp.path() / "a", tmp.path() / "d"}, "", {});
  EXPECT_EQ(find_module("foo", with_link).value(), tmp.path() / "d" / "libfoo.so");
}

TEST(FindModule, BadNamesNeverReachTheFileSystem) {
  temp_dir tmp;
  tmp.write("libfoo.so");
  tmp.write("sub/libfoo.so");
  module_search_path search({tmp.path() / "sub"}, "", {});
  EXPECT_THAT(find_module("../foo", search), HasCode(errc::bad_module_name));
  EXPECT_THAT(find_module("sub/foo", search), HasCode(errc::bad_module_name));
  EXPECT_THAT(find_module("foo", search), IsOk());
}

TEST(FindModule, EmptySearchPathSaysSo) {
  module_search_path search({}, "", {});
  EXPECT_THAT(find_module("foo", search),
              HasCodeAndMessage(errc::module_not_found, HasSubstr("the search path is empty")));
}

}  // namespace
}  // namespace livemod
