#include "compat/library_search.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "compat/test_support.h"
#include "testing/matchers.h"

namespace livemod::compat {
namespace {

namespace fs = std::filesystem;
using testing::cache_entry_spec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::temp_dir;

// A real shared object of this machine to place in directories as "libdep.so".
const fs::path k_good = LIVEMOD_FIXTURE_CALCULATOR;

class LibrarySearch : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    env_.cls = elf_class::elf64;
    env_.machine = testing::machine_of(k_good);
    ASSERT_NE(env_.machine, 0);
    env_.executable = tmp_.dir("bin") / "host";
    env_.lib = "lib/test-triplet";
    env_.platform = "testplat";
    env_.cache_problem = "not read (test)";
  }

  // Puts a copy of the good library at `dir`/libdep.so and returns its path.
  fs::path place(const fs::path& relative_dir, const std::string& name = "libdep.so") {
    const fs::path to = tmp_.dir(relative_dir) / name;
    fs::copy_file(k_good, to, fs::copy_options::overwrite_existing);
    return to;
  }

  std::string dir(const fs::path& relative) { return tmp_.dir(relative).string(); }

  search_object needing(std::vector<std::string> rpath, std::vector<std::string> runpath,
                        std::uint64_t flags_1 = 0) {
    return {tmp_.dir("mod") / "libmod.so", std::move(rpath), std::move(runpath), flags_1};
  }

  static std::vector<fs::path> tried_paths(const search_result& r) {
    std::vector<fs::path> out;
    for (const auto& t : r.tried) out.push_back(t.path);
    return out;
  }

  temp_dir tmp_;
  search_environment env_;
};

TEST_F(LibrarySearch, RpathComesBeforeLdLibraryPath) {
  const fs::path in_rpath = place("a");
  place("b");
  env_.ld_library_path = dir("b");
  const std::vector<search_object> chain = {needing({dir("a")}, {})};
  const search_result r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, in_rpath);
  EXPECT_EQ(r.found_by, "RPATH");
  EXPECT_TRUE(r.tried.empty());
}

TEST_F(LibrarySearch, RunpathDisablesRpathAndComesAfterLdLibraryPath) {
  place("a");  // in RPATH, which RUNPATH disables
  const fs::path in_runpath = place("c");
  const std::vector<search_object> chain = {needing({dir("a")}, {dir("c")})};
  search_result r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, in_runpath);
  EXPECT_EQ(r.found_by, "RUNPATH");
  EXPECT_TRUE(r.tried.empty());

  const fs::path in_ld_path = place("b");
  env_.ld_library_path = dir("b");
  r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, in_ld_path);
  EXPECT_EQ(r.found_by, "LD_LIBRARY_PATH");
}

TEST_F(LibrarySearch, RpathIsInheritedFromTheLoaderChainButRunpathIsNot) {
  const fs::path in_loader_rpath = place("a");
  place("c");
  const search_object dependency{tmp_.dir("deps") / "libx.so", {}, {}, 0};
  // The module loaded libx.so; libx.so needs libdep.so.
  std::vector<search_object> chain = {dependency, needing({dir("a")}, {dir("c")})};
  search_result r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, in_loader_rpath);
  EXPECT_EQ(r.found_by, "RPATH");

  // Without the loader's RPATH, its RUNPATH does not help a dependency.
  chain = {dependency, needing({}, {dir("c")})};
  r = find_library("libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  for (const auto& t : r.tried) EXPECT_THAT(t.path.string(), ::testing::Not(HasSubstr("/c/")));

  // A dependency with a RUNPATH of its own ignores every RPATH up the chain.
  chain = {{tmp_.dir("deps") / "libx.so", {}, {dir("nowhere")}, 0}, needing({dir("a")}, {})};
  r = find_library("libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  EXPECT_THAT(tried_paths(r), ::testing::Contains(fs::path(dir("nowhere")) / "libdep.so"));
  EXPECT_THAT(tried_paths(r),
              ::testing::Not(::testing::Contains(fs::path(dir("a")) / "libdep.so")));
}

TEST_F(LibrarySearch, OriginIsTheNeedingObjectsDirectory) {
  const fs::path lib = place("deps");
  for (const std::string runpath : {"$ORIGIN/../deps", "${ORIGIN}/../deps"}) {
    const std::vector<search_object> chain = {needing({}, {runpath})};
    const search_result r = find_library("libdep.so", chain, env_);
    ASSERT_TRUE(r.path.has_value()) << runpath;
    EXPECT_TRUE(fs::equivalent(*r.path, lib)) << *r.path;
    EXPECT_EQ(r.found_by, "RUNPATH");
  }
  // In LD_LIBRARY_PATH, $ORIGIN is the executable's directory (the main map's origin).
  const fs::path next_to_host = place("bin");
  env_.ld_library_path = "$ORIGIN";
  const std::vector<search_object> chain = {needing({}, {})};
  const search_result r = find_library("libdep.so", chain, env_);
  ASSERT_TRUE(r.path.has_value());
  EXPECT_TRUE(fs::equivalent(*r.path, next_to_host));
}

TEST_F(LibrarySearch, LdLibraryPathSplitsAtColonAndSemicolonAndEmptyIsTheWorkingDirectory) {
  EXPECT_THAT(split_search_path("a::b;c", ":;"), ElementsAre("a", "", "b", "c"));
  EXPECT_THAT(split_search_path("", ":;"), ElementsAre(""));
  EXPECT_THAT(split_search_path("a;b", ":"), ElementsAre("a;b"));

  const fs::path lib = place("b");
  env_.ld_library_path = dir("x") + ";" + dir("b");
  const std::vector<search_object> chain = {needing({}, {})};
  search_result r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, lib);
  EXPECT_EQ(r.found_by, "LD_LIBRARY_PATH");
  EXPECT_THAT(tried_paths(r), ElementsAre(fs::path(dir("x")) / "libdep.so"));

  env_.ld_library_path = ":" + dir("x");
  r = find_library("libnothere.so", chain, env_);
  ASSERT_FALSE(r.tried.empty());
  EXPECT_EQ(r.tried.front().path, fs::path("./libnothere.so"));

  // LD_LIBRARY_PATH= (set, empty) is no search path at all, not the working directory.
  env_.ld_library_path = "";
  r = find_library("libnothere.so", chain, env_);
  EXPECT_THAT(tried_paths(r), ElementsAre(env_.cache_path));
}

TEST_F(LibrarySearch, DynamicStringTokens) {
  EXPECT_EQ(expand_dynamic_string_tokens("$ORIGIN/x:${ORIGIN}", "/o", "lib64", "x86_64"),
            "/o/x:/o");
  EXPECT_EQ(expand_dynamic_string_tokens("/usr/$LIB/$PLATFORM", "/o", "lib/t", "plat"),
            "/usr/lib/t/plat");
  EXPECT_EQ(expand_dynamic_string_tokens("/${LIB}x/${PLATFORM}", "/o", "L", "P"), "/Lx/P");
  // Not tokens: more identifier characters follow, an unknown name, an unclosed brace.
  EXPECT_EQ(expand_dynamic_string_tokens("$ORIGINAL/$HOME/${ORIGIN", "/o", "L", "P"),
            "$ORIGINAL/$HOME/${ORIGIN");
}

TEST_F(LibrarySearch, LibAndPlatformAreExpandedInSearchPaths) {
  const fs::path lib = place("root/lib/test-triplet/testplat");
  const std::vector<search_object> chain = {needing({}, {dir("root") + "/$LIB/$PLATFORM"})};
  const search_result r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, lib);
}

TEST_F(LibrarySearch, AWrongMachineOrClassIsSkippedAndTheSearchGoesOn) {
  testing::copy_with_machine(k_good, tmp_.dir("arm") / "libdep.so",
                             EM_AARCH64 == env_.machine ? EM_X86_64 : EM_AARCH64);
  testing::copy_with_class(k_good, tmp_.dir("c32") / "libdep.so", ELFCLASS32);
  const fs::path good = place("good");
  const std::vector<search_object> chain = {needing({dir("arm"), dir("c32"), dir("good")}, {})};
  const search_result r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, good);
  EXPECT_EQ(r.found_by, "RPATH");
  ASSERT_EQ(r.tried.size(), 2u);
  EXPECT_EQ(r.tried[0].path, fs::path(dir("arm")) / "libdep.so");
  EXPECT_THAT(r.tried[0].outcome, HasSubstr("wrong machine"));
  EXPECT_EQ(r.tried[1].path, fs::path(dir("c32")) / "libdep.so");
  EXPECT_THAT(r.tried[1].outcome, HasSubstr("wrong ELF class (ELFCLASS32)"));
  EXPECT_FALSE(r.stopped);
}

TEST_F(LibrarySearch, AFileThatIsNotElfStopsTheSearchAsInLdSo) {
  // A linker script, as /usr/lib/x86_64-linux-gnu/libc.so is.
  testing::write_text(tmp_.dir("text") / "libdep.so",
                      "/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\n"
                      "GROUP ( /lib/x86_64-linux-gnu/libdep.so.1 )\n");
  place("good");
  const std::vector<search_object> chain = {needing({dir("text"), dir("good")}, {})};
  const search_result r = find_library("libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  EXPECT_TRUE(r.stopped);
  ASSERT_EQ(r.tried.size(), 1u);
  EXPECT_THAT(r.tried[0].outcome, HasSubstr("invalid ELF header"));
}

TEST_F(LibrarySearch, TheOtherByteOrderOrAnObjectFileStopsTheSearch) {
  place("good");
  // EI_DATA and e_type (low byte, little-endian): fatal in open_verify, unlike a wrong machine.
  testing::copy_with_byte(k_good, tmp_.dir("msb") / "libdep.so", EI_DATA, ELFDATA2MSB);
  testing::copy_with_byte(k_good, tmp_.dir("rel") / "libdep.so", 16, ET_REL);
  std::vector<search_object> chain = {needing({dir("msb"), dir("good")}, {})};
  search_result r = find_library("libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  EXPECT_TRUE(r.stopped);
  ASSERT_EQ(r.tried.size(), 1u);
  EXPECT_THAT(r.tried[0].outcome, HasSubstr("data encoding"));

  chain = {needing({dir("rel"), dir("good")}, {})};
  r = find_library("libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  EXPECT_TRUE(r.stopped);
  ASSERT_EQ(r.tried.size(), 1u);
  EXPECT_THAT(r.tried[0].outcome, HasSubstr("not a shared object"));
}

TEST_F(LibrarySearch, AFileShorterThanAnElfHeaderStopsTheSearch) {
  testing::write_text(tmp_.dir("short") / "libdep.so",
                      "\x7f"
                      "ELF");
  place("good");
  const std::vector<search_object> chain = {needing({dir("short"), dir("good")}, {})};
  const search_result r = find_library("libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  EXPECT_TRUE(r.stopped);
  ASSERT_EQ(r.tried.size(), 1u);
  EXPECT_THAT(r.tried[0].outcome, HasSubstr("file too short"));
}

TEST_F(LibrarySearch, ANameWithASlashIsNotSearched) {
  const fs::path lib = place("mod/sub");
  place("a");
  const std::vector<search_object> chain = {needing({dir("a")}, {})};
  search_result r = find_library("$ORIGIN/sub/libdep.so", chain, env_);
  ASSERT_TRUE(r.path.has_value());
  EXPECT_TRUE(fs::equivalent(*r.path, lib));
  EXPECT_EQ(r.found_by, "path");

  r = find_library("./nowhere/libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  EXPECT_THAT(tried_paths(r), ElementsAre(fs::path("./nowhere/libdep.so")));
}

TEST_F(LibrarySearch, CacheThenDefaultDirsUnlessNodeflib) {
  const fs::path in_default = place("default");
  env_.default_dirs = {tmp_.dir("empty_default"), tmp_.dir("default")};
  std::vector<search_object> chain = {needing({}, {})};
  search_result r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, in_default);
  EXPECT_EQ(r.found_by, "default dirs");
  // The unusable cache is recorded where it was consulted, before the default directories.
  ASSERT_EQ(r.tried.size(), 2u);
  EXPECT_EQ(r.tried[0].path, env_.cache_path);
  EXPECT_EQ(r.tried[0].outcome, "not read (test)");
  EXPECT_EQ(r.tried[1].path, tmp_.dir("empty_default") / "libdep.so");

  // With a cache that lists it (for this machine), the cache wins; an entry for another
  // architecture of the same name is passed over.
  const fs::path cached = place("cached");
  const auto flags = ld_so_cache_flags(env_.cls, env_.machine);
  ASSERT_TRUE(flags.has_value());
  const auto bytes = testing::build_new_cache(
      {{0x0003, "libdep.so", "/wrong/arch/libdep.so"}, {*flags, "libdep.so", cached.string()}});
  auto cache = ld_so_cache::parse(std::span<const std::byte>(bytes), "test");
  ASSERT_TRUE(cache.has_value());
  env_.cache = std::make_shared<const ld_so_cache>(std::move(*cache));
  r = find_library("libdep.so", chain, env_);
  EXPECT_EQ(r.path, cached);
  EXPECT_EQ(r.found_by, "ld.so.cache");

  r = find_library("libabsent.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  ASSERT_FALSE(r.tried.empty());
  EXPECT_EQ(r.tried[0].path, env_.cache_path);
  EXPECT_THAT(r.tried[0].outcome, HasSubstr("no entry for libabsent.so"));

  // -z nodeflib: neither.
  chain = {needing({}, {}, DF_1_NODEFLIB)};
  r = find_library("libdep.so", chain, env_);
  EXPECT_FALSE(r.path.has_value());
  EXPECT_TRUE(r.tried.empty());
}

TEST_F(LibrarySearch, TheSameCandidateIsTriedOnce) {
  env_.ld_library_path = dir("x") + ":" + dir("x");
  const std::vector<search_object> chain = {needing({dir("x")}, {dir("y")})};
  const search_result r = find_library("libdep.so", chain, env_);
  EXPECT_THAT(tried_paths(r), ElementsAre(fs::path(dir("x")) / "libdep.so",
                                          fs::path(dir("y")) / "libdep.so", env_.cache_path));
}

TEST(LibrarySearchOnThisMachine, FindsLibcAsLdSoWould) {
  const image_info self = [] {
    auto r = read_image(fs::read_symlink("/proc/self/exe"));
    return r ? *r : image_info{};
  }();
  ASSERT_NE(self.machine, 0);
  const search_environment env =
      search_environment::for_host(self.cls, self.machine, self.path, std::nullopt);
  ASSERT_FALSE(env.default_dirs.empty());
  const std::string triplet = multiarch_triplet(self.cls, self.machine);
  if (fs::is_directory("/lib/" + triplet)) {
    EXPECT_EQ(env.default_dirs.front(), fs::path("/lib/" + triplet));
    EXPECT_EQ(env.lib, "lib/" + triplet);
  }
  const std::vector<search_object> chain = {{self.path, {}, {}, 0}};
  const search_result r = find_library("libc.so.6", chain, env);
  ASSERT_TRUE(r.path.has_value());
  EXPECT_TRUE(r.found_by == "ld.so.cache" || r.found_by == "default dirs") << r.found_by;
  auto libc = read_image(*r.path);
  ASSERT_TRUE(libc.has_value());
  EXPECT_EQ(libc->machine, self.machine);
}

}  // namespace
}  // namespace livemod::compat
