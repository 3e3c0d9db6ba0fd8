#include "compat/host_scope.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "testing/matchers.h"

namespace livemod::compat {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::IsSupersetOf;
using ::testing::Not;
using testing_support::IsOk;
using namespace std::string_literals;

fs::path self_path() { return fs::read_symlink("/proc/self/exe"); }

TEST(HostScope, ThisProcessProvidesLibcAndItsSymbols) {
  auto scope = open_host_scope(self_path(), std::nullopt);
  ASSERT_THAT(scope, IsOk());
  const auto libc = scope->find_loaded("libc.so.6");
  ASSERT_TRUE(libc.has_value());
  EXPECT_EQ(scope->objects()[*libc].image().soname, "libc.so.6");

  // A libc function no sanitizer runtime interposes (libasan defines malloc unversioned, and
  // an unversioned definition satisfies every versioned reference).
  const auto& symbols = scope->objects()[*libc].image().symbols;
  const auto it = std::find_if(symbols.begin(), symbols.end(), [](const elf_symbol& s) {
    return s.name == "gnu_get_libc_version" && s.defined;
  });
  ASSERT_NE(it, symbols.end());
  ASSERT_TRUE(it->version.starts_with("GLIBC_")) << it->version;
  EXPECT_TRUE(scope->defines("gnu_get_libc_version", ""));
  EXPECT_TRUE(scope->defines("gnu_get_libc_version", it->version));
  EXPECT_FALSE(scope->defines("gnu_get_libc_version", "GLIBC_9.9"));
  EXPECT_FALSE(scope->defines("livemod_no_library_defines_this", ""));
  for (const auto& r : scope->resolutions()) {
    EXPECT_TRUE(r.path.has_value()) << r.name << " needed by " << r.needed_by;
  }
}

TEST(HostScope, TheScopeIsBuiltBreadthFirst) {
  auto scope = open_host_scope(self_path(), std::nullopt);
  ASSERT_THAT(scope, IsOk());
  const auto& objects = scope->objects();
  ASSERT_GT(objects.size(), 2u);
  EXPECT_FALSE(objects[0].loader.has_value());
  // The executable's own DT_NEEDED come first and in order, then their dependencies.
  const auto& needed = objects[0].image().needed;
  for (std::size_t i = 0; i < needed.size(); ++i) {
    ASSERT_LT(i + 1, objects.size());
    EXPECT_EQ(objects[i + 1].names.front(), needed[i]);
    EXPECT_EQ(objects[i + 1].loader, 0u);
  }
  for (std::size_t i = 1; i < objects.size(); ++i) {
    ASSERT_TRUE(objects[i].loader.has_value());
    EXPECT_LT(*objects[i].loader, i) << "an object comes after the one that needs it";
  }
}

TEST(HostScope, VersionRulesFollowCheckMatch) {
  // A scope built from made-up images: only the symbol tables matter.
  search_environment env;
  load_scope scope(env);
  image_info host;
  host.path = "/made/up/host";
  elf_symbol versioned{"f", "V_2", false, true, STB_GLOBAL, STT_FUNC, 1, 1};
  elf_symbol hidden{"g", "V_1", true, true, STB_GLOBAL, STT_FUNC, 1, 1};
  elf_symbol plain{"h", "", false, true, STB_GLOBAL, STT_FUNC, 1, 1};
  elf_symbol local{"l", "", false, true, STB_LOCAL, STT_FUNC, 1, 1};
  elf_symbol undefined{"u", "", false, false, STB_GLOBAL, STT_FUNC, 0, 0};
  host.symbols = {versioned, hidden, plain, local, undefined};
  scope.add(host, std::nullopt);

  EXPECT_TRUE(scope.defines("f", "V_2"));
  EXPECT_FALSE(scope.defines("f", "V_1"));
  EXPECT_TRUE(scope.defines("f", ""));       // the default version serves unversioned references
  EXPECT_TRUE(scope.defines("g", "V_1"));    // name@V_1 serves a reference to that version
  EXPECT_FALSE(scope.defines("g", ""));      // but not an unversioned one
  EXPECT_TRUE(scope.defines("h", "ANY_1"));  // an unversioned definition serves any version
  EXPECT_FALSE(scope.defines("l", ""));
  EXPECT_FALSE(scope.defines("u", ""));
}

TEST(InferFingerprint, ReadsCompilerAbiAndSanitizersFromTheImage) {
  image_info exe;
  exe.machine = EM_X86_64;
  exe.cls = elf_class::elf64;
  exe.comment = "GCC: (Debian 12.2.0-14) 12.2.0\0GCC: (GNU) 11.1.0\0"s;
  exe.symbols = {{"_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE6appendEPKc", "", false,
                  false, STB_GLOBAL, STT_FUNC, 0, 0}};
  host_fingerprint fp = infer_fingerprint(exe);
  EXPECT_EQ(fp.source, "inferred from image");
  EXPECT_EQ(fp.fingerprint.compiler, "gcc");
  EXPECT_EQ(fp.fingerprint.compiler_major, 12);
  EXPECT_EQ(fp.fingerprint.arch, "x86_64");
  EXPECT_EQ(fp.fingerprint.cxx11_abi, 1);
  EXPECT_FALSE(fp.fingerprint.asan);
  EXPECT_FALSE(fp.fingerprint.glibcxx_debug);
  EXPECT_THAT(fp.unknown_fields, IsSupersetOf({"exceptions", "rtti"}));
  EXPECT_THAT(fp.unknown_fields, Not(Contains("glibcxx_debug")));  // it is C++: absence tells
  EXPECT_THAT(fp.unknown_fields, Not(Contains("compiler")));

  // crt files bring a GCC line into every link; clang's own line decides.
  exe.comment = "GCC: (Debian 12.2.0-14) 12.2.0\0Debian clang version 14.0.6\0"s;
  exe.symbols = {
      {"_ZNSs6appendEPKc", "", false, false, STB_GLOBAL, STT_FUNC, 0, 0},
      {"__tsan_init", "", false, false, STB_GLOBAL, STT_FUNC, 0, 0},
      {"_ZNSt7__debug6vectorIiSaIiEE9push_backEOi", "", false, true, STB_WEAK, STT_FUNC, 1, 1}};
  exe.needed = {"libasan.so.8", "libstdc++.so.6"};
  exe.machine = EM_AARCH64;
  fp = infer_fingerprint(exe);
  EXPECT_EQ(fp.fingerprint.compiler, "clang");
  EXPECT_EQ(fp.fingerprint.compiler_major, 14);
  EXPECT_EQ(fp.fingerprint.arch, "aarch64");
  EXPECT_EQ(fp.fingerprint.cxx11_abi, 0);
  EXPECT_TRUE(fp.fingerprint.asan);
  EXPECT_TRUE(fp.fingerprint.tsan);
  EXPECT_TRUE(fp.fingerprint.glibcxx_debug);
}

TEST(InferFingerprint, WhatAnImageCannotShowIsUnknown) {
  image_info exe;  // a stripped C program: no .comment, no C++ symbols
  exe.machine = EM_X86_64;
  exe.needed = {"libc.so.6"};
  exe.symbols = {{"malloc", "GLIBC_2.2.5", false, false, STB_GLOBAL, STT_FUNC, 0, 0}};
  const host_fingerprint fp = infer_fingerprint(exe);
  EXPECT_EQ(fp.fingerprint.compiler, "unknown");
  EXPECT_EQ(fp.fingerprint.cxx11_abi, -1);
  EXPECT_THAT(fp.unknown_fields,
              IsSupersetOf({"compiler", "compiler_major", "glibcxx_debug", "exceptions", "rtti"}));
}

TEST(InferFingerprint, TestBuiltHostsShowTheirStringAbi) {
  auto new_abi = read_image(LIVEMOD_FIXTURE_COMPAT_HOST_NEW_ABI);
  auto old_abi = read_image(LIVEMOD_FIXTURE_COMPAT_HOST_OLD_ABI);
  ASSERT_THAT(new_abi, IsOk());
  ASSERT_THAT(old_abi, IsOk());
  const host_fingerprint n = executable_fingerprint(*new_abi);
  const host_fingerprint o = executable_fingerprint(*old_abi);
  EXPECT_EQ(n.source, "inferred from image");
  EXPECT_EQ(n.fingerprint.cxx11_abi, 1);
  EXPECT_EQ(o.fingerprint.cxx11_abi, 0);
  // Built here, not stripped: .comment names this compiler.
#if defined(__GNUC__) && !defined(__clang__)
  EXPECT_EQ(n.fingerprint.compiler, "gcc");
  EXPECT_EQ(n.fingerprint.compiler_major, __GNUC__);
#endif
#if defined(__SANITIZE_ADDRESS__)
  EXPECT_TRUE(n.fingerprint.asan);
#else
  EXPECT_FALSE(n.fingerprint.asan);
#endif
}

TEST(ExecutableFingerprint, AManifestWins) {
  auto host = read_image(LIVEMOD_FIXTURE_COMPAT_HOST_MANIFEST);
  ASSERT_THAT(host, IsOk());
  ASSERT_TRUE(host->manifest_json.has_value());
  const host_fingerprint fp = executable_fingerprint(*host);
  EXPECT_EQ(fp.source, "manifest");
  EXPECT_TRUE(fp.fingerprint.glibcxx_debug);  // built with _GLIBCXX_DEBUG, which no image shows
  EXPECT_TRUE(fp.unknown_fields.empty());

  // A host manifest that is only a fingerprint (not a module manifest) still counts.
  image_info bare;
  bare.path = "/made/up/host";
  bare.manifest_json =
      R"({"fingerprint":{"compiler":"clang","compiler_major":17,"cxx11_abi":0,"arch":"x86_64",)"
      R"("exceptions":false,"rtti":true,"glibcxx_debug":false,"asan":false,"tsan":false}})";
  const host_fingerprint from_bare = executable_fingerprint(bare);
  EXPECT_EQ(from_bare.source, "manifest");
  EXPECT_EQ(from_bare.fingerprint.compiler, "clang");
  EXPECT_FALSE(from_bare.fingerprint.exceptions);

  // Unreadable JSON: back to inference.
  bare.manifest_json = "{not json";
  EXPECT_EQ(executable_fingerprint(bare).source, "inferred from image");
}

}  // namespace
}  // namespace livemod::compat
