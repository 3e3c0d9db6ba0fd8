#include "livemod/check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "compat/library_search.h"
#include "compat/test_support.h"
#include "testing/matchers.h"
#include "testing/temp_dir.h"

namespace livemod {
namespace {

namespace fs = std::filesystem;
using compat::testing::temp_dir;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_support::HasCode;
using testing_support::IsOk;

std::vector<const finding*> with_code(const check_report& report, errc code) {
  std::vector<const finding*> out;
  for (const auto& f : report.findings) {
    if (f.code == code) out.push_back(&f);
  }
  return out;
}

std::string describe(const check_report& report) {
  std::string out;
  for (const auto& f : report.findings) {
    out += std::string(to_string(f.level)) + " " + std::string(to_string(f.code)) + " [" +
           f.subject + "] " + f.message + "; " + f.remedy + "\n";
  }
  return out;
}

std::size_t count_level(const check_report& report, severity level) {
  return static_cast<std::size_t>(
      std::count_if(report.findings.begin(), report.findings.end(),
                    [&](const finding& f) { return f.level == level; }));
}

const resolved_library* library_named(const check_report& report, std::string_view name) {
  for (const auto& lib : report.libraries) {
    if (lib.name == name) return &lib;
  }
  return nullptr;
}

// Every check runs with an explicit LD_LIBRARY_PATH so the environment of the test run does not
// change what is found.
check_options plain(bool allow_missing_manifest = false) {
  check_options o;
  o.ld_library_path = "/nonexistent/livemod-compat-test";
  o.allow_missing_manifest = allow_missing_manifest;
  return o;
}

// The highest GLIBC_x.y[.z] that `libc` defines, compared numerically.
std::string highest_glibc(const image_info& libc) {
  std::string best;
  std::vector<int> best_parts;
  for (const auto& def : libc.version_defs) {
    if (!def.starts_with("GLIBC_") || def.size() < 7 || def[6] < '0' || def[6] > '9') continue;
    std::vector<int> parts;
    for (std::size_t i = 6; i < def.size();) {
      const std::size_t dot = def.find('.', i);
      parts.push_back(std::stoi(def.substr(i, dot - i)));
      if (dot == std::string::npos) break;
      i = dot + 1;
    }
    if (best.empty() || parts > best_parts) {
      best = def;
      best_parts = parts;
    }
  }
  return best;
}

// In a copy of an ELF64 module, renames the first strong GLIBC_ version it needs to a name of
// the same length with every number but the last made 9 ("GLIBC_2.2.5" -> "GLIBC_9.9.5"),
// and fixes vna_hash so the entry stays consistent. Returns the new name, "" if none.
std::string patch_glibc_verneed(std::vector<char>& bytes) {
  auto at = [&](std::size_t off, std::size_t size) { return off + size <= bytes.size(); };
  if (!at(0, sizeof(Elf64_Ehdr)) || bytes[EI_CLASS] != ELFCLASS64) return "";
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  auto section = [&](std::size_t index) {
    Elf64_Shdr sh{};
    const std::size_t off = eh.e_shoff + index * sizeof(Elf64_Shdr);
    if (index < eh.e_shnum && at(off, sizeof sh)) std::memcpy(&sh, bytes.data() + off, sizeof sh);
    return sh;
  };
  for (std::size_t s = 0; s < eh.e_shnum; ++s) {
    const Elf64_Shdr verneed = section(s);
    if (verneed.sh_type != SHT_GNU_verneed) continue;
    const Elf64_Shdr strtab = section(verneed.sh_link);
    std::size_t need_off = verneed.sh_offset;
    for (std::size_t n = 0; n < verneed.sh_info && at(need_off, sizeof(Elf64_Verneed)); ++n) {
      Elf64_Verneed vn;
      std::memcpy(&vn, bytes.data() + need_off, sizeof vn);
      std::size_t aux_off = need_off + vn.vn_aux;
      for (std::size_t a = 0; a < vn.vn_cnt && at(aux_off, sizeof(Elf64_Vernaux)); ++a) {
        Elf64_Vernaux aux;
        std::memcpy(&aux, bytes.data() + aux_off, sizeof aux);
        const std::size_t name_off = strtab.sh_offset + aux.vna_name;
        const std::string name(bytes.data() + name_off);
        if (name.starts_with("GLIBC_") && (aux.vna_flags & VER_FLG_WEAK) == 0 &&
            name.find('.') != std::string::npos) {
          std::string renamed = name;
          const std::size_t last_dot = renamed.find_last_of('.');
          for (std::size_t i = 6; i < last_dot; ++i) {
            if (renamed[i] >= '0' && renamed[i] <= '9') renamed[i] = '9';
          }
          std::memcpy(bytes.data() + name_off, renamed.data(), renamed.size());
          aux.vna_hash = compat::testing::elf_hash(renamed);
          std::memcpy(bytes.data() + aux_off, &aux, sizeof aux);
          return renamed;
        }
        aux_off += aux.vna_next;
      }
      need_off += vn.vn_next;
    }
  }
  return "";
}

TEST(Severity, Names) {
  EXPECT_EQ(to_string(severity::info), "info");
  EXPECT_EQ(to_string(severity::warning), "warning");
  EXPECT_EQ(to_string(severity::error), "error");
}

TEST(Check, AGoodModuleIsCompatibleWithThisProcess) {
  auto report = check(LIVEMOD_FIXTURE_CALCULATOR, plain());
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->compatible()) << describe(*report);
  EXPECT_EQ(count_level(*report, severity::error), 0u) << describe(*report);
  EXPECT_EQ(count_level(*report, severity::warning), 0u) << describe(*report);
  EXPECT_EQ(report->host_fingerprint_source, "this process");
  EXPECT_EQ(report->host, fs::read_symlink("/proc/self/exe"));
  ASSERT_TRUE(report->module_manifest.has_value());
  EXPECT_EQ(report->module_manifest->name, "calculator");
  for (const auto& lib : report->libraries) EXPECT_TRUE(lib.path.has_value()) << lib.name;
}

TEST(Check, AModuleRewrittenAtTheSamePathIsReadAgain) {
  // check() shares module images with resolve (read_image_shared): a rebuilt file must not be
  // judged by its previous version.
  temp_dir dir;
  const fs::path file = dir.path() / "libmodule.so";
  fs::copy_file(LIVEMOD_FIXTURE_CALCULATOR, file);
  auto first = check(file, plain());
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->compatible()) << describe(*first);

  // Written over in place, as a linker writes its output: the same inode, new bytes.
  testing_support::overwrite_in_place(file, LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  auto second = check(file, plain());
  ASSERT_THAT(second, IsOk());
  ASSERT_TRUE(second->module_manifest.has_value());
  EXPECT_EQ(second->module_manifest->name, "future_abi");
  EXPECT_FALSE(second->compatible());
  EXPECT_FALSE(with_code(*second, errc::abi_unsupported).empty()) << describe(*second);
}

TEST(Check, AFileTheCallerIdentifiedGivesTheSameReport) {
  // The registry identifies each module once while it resolves and hands that identity on.
  for (const char* module : {LIVEMOD_FIXTURE_CALCULATOR, LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI,
                             LIVEMOD_FIXTURE_COMPAT_USES_LIBC}) {
    auto version = identify_file(module);
    ASSERT_THAT(version, IsOk());
    auto by_path = check(module, plain());
    auto identified = check(module, *version, plain());
    ASSERT_THAT(by_path, IsOk());
    ASSERT_THAT(identified, IsOk());
    EXPECT_EQ(describe(*identified), describe(*by_path)) << module;
  }
  temp_dir dir;
  auto gone = identify_file(LIVEMOD_FIXTURE_CALCULATOR);
  ASSERT_THAT(gone, IsOk());
  EXPECT_THAT(check(dir.path() / "libgone.so", *gone, plain()), HasCode(errc::file_not_found));
}

TEST(Check, LibrariesTheHostHasAreReportedAsTheHosts) {
  auto report = check(LIVEMOD_FIXTURE_COMPAT_USES_LIBC, plain());
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->compatible()) << describe(*report);
  const resolved_library* libc = library_named(*report, "libc.so.6");
  ASSERT_NE(libc, nullptr);
  EXPECT_EQ(libc->found_by, "host");
  ASSERT_TRUE(libc->path.has_value());
  EXPECT_TRUE(fs::exists(*libc->path));
  EXPECT_EQ(libc->needed_by, fs::path(LIVEMOD_FIXTURE_COMPAT_USES_LIBC).filename().string());
}

TEST(Check, AMissingLibraryListsEveryPlaceTried) {
  temp_dir tmp;
  check_options options = plain(true);
  options.ld_library_path = (tmp.path() / "nowhere").string();
  auto report = check(LIVEMOD_FIXTURE_MISSING_DEPENDENCY, options);
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->compatible());
  const auto missing = with_code(*report, errc::needed_not_found);
  ASSERT_EQ(missing.size(), 1u) << describe(*report);
  EXPECT_EQ(missing[0]->level, severity::error);
  EXPECT_EQ(missing[0]->subject, "liblivemod_absent.so");

  const resolved_library* lib = library_named(*report, "liblivemod_absent.so");
  ASSERT_NE(lib, nullptr);
  EXPECT_FALSE(lib->path.has_value());
  EXPECT_EQ(lib->found_by, "");
  EXPECT_EQ(lib->tried.size(), lib->tried_why.size());
  // LD_LIBRARY_PATH, the cache, and the default directories, each named in the message too.
  const auto env =
      compat::search_environment::for_host(report->module.cls, report->module.machine, "/", {});
  ASSERT_FALSE(env.default_dirs.empty());
  const fs::path in_ld_path = tmp.path() / "nowhere" / "liblivemod_absent.so";
  const fs::path in_default = env.default_dirs.front() / "liblivemod_absent.so";
  EXPECT_THAT(lib->tried, Contains(in_ld_path));
  EXPECT_THAT(lib->tried, Contains(fs::path("/etc/ld.so.cache")));
  EXPECT_THAT(lib->tried, Contains(in_default));
  EXPECT_THAT(missing[0]->message,
              AllOf(HasSubstr(in_ld_path.string()), HasSubstr("/etc/ld.so.cache"),
                    HasSubstr(in_default.string())));
  // The symbol the missing library would define is a note, not a second error.
  const auto symbols = with_code(*report, errc::unresolved_symbol);
  ASSERT_EQ(symbols.size(), 1u) << describe(*report);
  EXPECT_EQ(symbols[0]->subject, "livemod_absent_value");
  EXPECT_EQ(symbols[0]->level, severity::info);
  EXPECT_THAT(symbols[0]->message, HasSubstr("liblivemod_absent.so, which ld.so would not find"));

  // Where LD_LIBRARY_PATH reaches it, it is found by that rule.
  options.ld_library_path = fs::path(LIVEMOD_FIXTURE_ABSENT_STUB).parent_path().string();
  report = check(LIVEMOD_FIXTURE_MISSING_DEPENDENCY, options);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(with_code(*report, errc::needed_not_found), IsEmpty()) << describe(*report);
  lib = library_named(*report, "liblivemod_absent.so");
  ASSERT_NE(lib, nullptr);
  EXPECT_EQ(lib->found_by, "LD_LIBRARY_PATH");
  EXPECT_TRUE(report->compatible()) << describe(*report);
}

TEST(Check, AVersionTheLibraryDoesNotHaveIsReported) {
  auto report = check(LIVEMOD_FIXTURE_NEEDS_NEWER_VERSION, plain(true));
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->compatible());
  const auto versions = with_code(*report, errc::symbol_version_unavailable);
  ASSERT_EQ(versions.size(), 1u) << describe(*report);
  EXPECT_EQ(versions[0]->subject, "LIVEMOD_STUB_2.0");
  EXPECT_THAT(versions[0]->message,
              AllOf(HasSubstr("needs LIVEMOD_STUB_2.0 from liblivemod_versioned.so"),
                    HasSubstr(LIVEMOD_FIXTURE_VERSIONED_STUB_V1_DIR),
                    HasSubstr("provides up to LIVEMOD_STUB_1.0")));
  // The symbol of that version is the same problem, not a second one.
  EXPECT_THAT(with_code(*report, errc::unresolved_symbol), IsEmpty()) << describe(*report);
  const resolved_library* lib = library_named(*report, "liblivemod_versioned.so");
  ASSERT_NE(lib, nullptr);
  EXPECT_TRUE(lib->found_by == "RUNPATH" || lib->found_by == "RPATH") << lib->found_by;

  report = check(LIVEMOD_FIXTURE_USES_VERSIONED_STUB_V2, plain(true));
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(with_code(*report, errc::symbol_version_unavailable), IsEmpty());
  EXPECT_TRUE(report->compatible()) << describe(*report);
}

TEST(Check, AGlibcVersionFromTheFutureIsReportedWithWhatTheHostHas) {
  temp_dir tmp;
  std::vector<char> bytes = compat::testing::read_bytes(LIVEMOD_FIXTURE_COMPAT_USES_LIBC);
  const std::string future = patch_glibc_verneed(bytes);
  ASSERT_FALSE(future.empty()) << "the fixture needs no strong GLIBC_ version";
  const fs::path copy = tmp.path() / "libuses_libc.so";
  compat::testing::write_bytes(copy, bytes);

  auto report = check(copy, plain());
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->compatible());
  const auto versions = with_code(*report, errc::symbol_version_unavailable);
  ASSERT_EQ(versions.size(), 1u) << describe(*report);
  const resolved_library* libc = library_named(*report, "libc.so.6");
  ASSERT_NE(libc, nullptr);
  ASSERT_TRUE(libc->path.has_value());
  auto libc_image = read_image(*libc->path);
  ASSERT_THAT(libc_image, IsOk());
  const std::string host_has = highest_glibc(*libc_image);
  ASSERT_FALSE(host_has.empty());
  EXPECT_EQ(versions[0]->subject, future);
  EXPECT_THAT(versions[0]->message,
              AllOf(HasSubstr("needs " + future + " from libc.so.6"),
                    HasSubstr(libc->path->string()), HasSubstr("provides up to " + host_has)));
  EXPECT_EQ(versions[0]->remedy, "rebuild the module on an older system or run it on a newer one");
  EXPECT_THAT(with_code(*report, errc::unresolved_symbol), IsEmpty()) << describe(*report);
}

TEST(Check, AnUndefinedSymbolIsReported) {
  auto report = check(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL, plain(true));
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->compatible());
  auto unresolved = with_code(*report, errc::unresolved_symbol);
  ASSERT_EQ(unresolved.size(), 1u) << describe(*report);
  EXPECT_EQ(unresolved[0]->subject, "livemod_fixture_nobody_defines");
  EXPECT_THAT(unresolved[0]->message, HasSubstr("undefined symbol livemod_fixture_nobody_defines"));

  report = check(LIVEMOD_FIXTURE_UNDEFINED_CXX_SYMBOL, plain(true));
  ASSERT_THAT(report, IsOk());
  unresolved = with_code(*report, errc::unresolved_symbol);
  ASSERT_EQ(unresolved.size(), 1u) << describe(*report);
  EXPECT_THAT(unresolved[0]->message, HasSubstr("livemod_fixture::nobody_defines_this(int)"));
  EXPECT_TRUE(unresolved[0]->subject.starts_with("_Z")) << unresolved[0]->subject;
}

void expect_only_machine_findings(const check_report& report) {
  // Nothing about libraries or symbols: for another machine they are noise.
  EXPECT_THAT(report.libraries, IsEmpty());
  for (const errc noise :
       {errc::needed_not_found, errc::unresolved_symbol, errc::symbol_version_unavailable}) {
    EXPECT_THAT(with_code(report, noise), IsEmpty()) << describe(report);
  }
}

TEST(Check, AModuleForAnotherMachineIsAnArchMismatch) {
  temp_dir tmp;
  const fs::path self = fs::read_symlink("/proc/self/exe");
  const std::uint16_t other =
      compat::testing::machine_of(self) == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
  const fs::path copy = tmp.path() / "libforeign.so";
  compat::testing::copy_with_machine(LIVEMOD_FIXTURE_CALCULATOR, copy, other);
  auto report = check(copy, plain());
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->compatible());
  const auto arch = with_code(*report, errc::arch_mismatch);
  ASSERT_EQ(arch.size(), 1u) << describe(*report);
  EXPECT_THAT(arch[0]->message, HasSubstr("is built for " + machine_name(other)));
  expect_only_machine_findings(*report);

#ifdef LIVEMOD_FIXTURE_IMAGE_AARCH64
  if (compat::testing::machine_of(self) != EM_AARCH64) {
    report = check(LIVEMOD_FIXTURE_IMAGE_AARCH64, plain());
    ASSERT_THAT(report, IsOk());
    ASSERT_EQ(with_code(*report, errc::arch_mismatch).size(), 1u) << describe(*report);
    EXPECT_EQ(with_code(*report, errc::arch_mismatch)[0]->subject, "aarch64");
    expect_only_machine_findings(*report);
    // The fingerprint says aarch64 too; arch_mismatch has said it already.
    for (const auto* f : with_code(*report, errc::fingerprint_mismatch))
      EXPECT_NE(f->subject, "arch");
  }
#endif
}

TEST(Check, A32BitModuleIsAClassMismatch) {
#ifdef LIVEMOD_FIXTURE_IMAGE_I686
  auto report = check(LIVEMOD_FIXTURE_IMAGE_I686, plain(true));
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->compatible());
  const auto cls = with_code(*report, errc::class_mismatch);
  ASSERT_EQ(cls.size(), 1u) << describe(*report);
  EXPECT_THAT(cls[0]->message, HasSubstr("is ELFCLASS32 but the host"));
  expect_only_machine_findings(*report);
#else
  GTEST_SKIP() << "no i686 cross compiler: LIVEMOD_FIXTURE_IMAGE_I686 was not built";
#endif
}

TEST(Check, ManifestFindings) {
  auto report = check(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL, plain(false));
  ASSERT_THAT(report, IsOk());
  auto missing = with_code(*report, errc::manifest_missing);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0]->level, severity::error);

  report = check(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL, plain(true));
  ASSERT_THAT(report, IsOk());
  missing = with_code(*report, errc::manifest_missing);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0]->level, severity::warning);

  report = check(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI, plain());
  ASSERT_THAT(report, IsOk());
  const auto abi = with_code(*report, errc::abi_unsupported);
  ASSERT_EQ(abi.size(), 1u) << describe(*report);
  EXPECT_EQ(abi[0]->level, severity::error);
  EXPECT_THAT(abi[0]->message, HasSubstr("abi 99"));

#ifdef LIVEMOD_FIXTURE_MANIFEST_MISSING_VERSION
  report = check(LIVEMOD_FIXTURE_MANIFEST_MISSING_VERSION, plain());
  ASSERT_THAT(report, IsOk());
  EXPECT_FALSE(report->compatible());
  EXPECT_FALSE(report->module_manifest.has_value());
  const auto schema = with_code(*report, errc::manifest_schema);
  ASSERT_EQ(schema.size(), 1u) << describe(*report);
  EXPECT_EQ(schema[0]->level, severity::error);
  EXPECT_THAT(schema[0]->message, HasSubstr("version"));
#endif
}

TEST(Check, AHostBuiltWithTheOldStringAbiIsAFingerprintMismatch) {
  check_options options = plain();
  options.host = LIVEMOD_FIXTURE_COMPAT_HOST_OLD_ABI;
  auto report = check(LIVEMOD_FIXTURE_CALCULATOR, options);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->host, fs::path(LIVEMOD_FIXTURE_COMPAT_HOST_OLD_ABI));
  EXPECT_EQ(report->host_fingerprint_source, "inferred from image");
  EXPECT_EQ(report->host_fingerprint.cxx11_abi, 0);
  const auto fp = with_code(*report, errc::fingerprint_mismatch);
  const auto abi = std::find_if(fp.begin(), fp.end(),
                                [](const finding* f) { return f->subject == "cxx11_abi"; });
  ASSERT_NE(abi, fp.end()) << describe(*report);
  EXPECT_EQ((*abi)->level, severity::error);
  EXPECT_THAT((*abi)->message, HasSubstr("inferred from image"));
  EXPECT_FALSE(report->compatible());

  // The same host built with the new ABI: nothing to say.
  options.host = LIVEMOD_FIXTURE_COMPAT_HOST_NEW_ABI;
  report = check(LIVEMOD_FIXTURE_CALCULATOR, options);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->host_fingerprint.cxx11_abi, 1);
  EXPECT_THAT(with_code(*report, errc::fingerprint_mismatch), IsEmpty()) << describe(*report);
  EXPECT_TRUE(report->compatible()) << describe(*report);
}

TEST(Check, AHostManifestGivesTheFingerprint) {
  check_options options = plain();
  options.host = LIVEMOD_FIXTURE_COMPAT_HOST_MANIFEST;
  auto report = check(LIVEMOD_FIXTURE_CALCULATOR, options);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->host_fingerprint_source, "manifest");
  EXPECT_TRUE(report->host_fingerprint.glibcxx_debug);
  const auto fp = with_code(*report, errc::fingerprint_mismatch);
  ASSERT_TRUE(std::any_of(fp.begin(), fp.end(), [](const finding* f) {
    return f->subject == "glibcxx_debug" && f->level == severity::error;
  })) << describe(*report);
  EXPECT_FALSE(report->compatible());
}

TEST(Check, WhatAStrippedHostCannotShowIsNotHeldAgainstTheModule) {
  if (!fs::exists("/usr/bin/ls")) GTEST_SKIP() << "no /usr/bin/ls";
  auto ls = read_image("/usr/bin/ls");
  if (!ls) GTEST_SKIP() << "/usr/bin/ls is not a PIE here: " << ls.error().describe();
  check_options options = plain();
  options.host = "/usr/bin/ls";
  auto report = check(LIVEMOD_FIXTURE_CALCULATOR, options);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->host_fingerprint_source, "inferred from image");
  for (const auto* f : with_code(*report, errc::fingerprint_mismatch)) {
    for (const char* unknown : {"exceptions", "rtti", "glibcxx_debug"}) {
      EXPECT_NE(f->subject, unknown) << describe(*report);
    }
    if (ls->comment.empty()) {
      EXPECT_NE(f->subject, "compiler");
      EXPECT_NE(f->subject, "compiler_major");
    }
  }
  // libc comes from ls's own scope.
  auto uses_libc = check(LIVEMOD_FIXTURE_COMPAT_USES_LIBC, options);
  ASSERT_THAT(uses_libc, IsOk());
  const resolved_library* libc = library_named(*uses_libc, "libc.so.6");
  ASSERT_NE(libc, nullptr);
  EXPECT_EQ(libc->found_by, "host");
}

TEST(Check, PinsAreWarnings) {
#ifdef LIVEMOD_FIXTURE_IMAGE_UNIQUE
  auto report = check(LIVEMOD_FIXTURE_IMAGE_UNIQUE, plain());
  ASSERT_THAT(report, IsOk());
  const auto pins = with_code(*report, errc::image_pinned);
  ASSERT_FALSE(pins.empty()) << describe(*report);
  for (const auto* f : pins) {
    EXPECT_EQ(f->level, severity::warning);
    EXPECT_THAT(f->message, HasSubstr("cannot be unloaded: STB_GNU_UNIQUE symbol"));
    EXPECT_THAT(f->remedy, HasSubstr("-fno-gnu-unique"));
  }
  EXPECT_TRUE(report->compatible()) << describe(*report);
#else
  GTEST_SKIP() << "LIVEMOD_FIXTURE_IMAGE_UNIQUE was not built";
#endif
}

TEST(Check, NodeleteIsAPin) {
#ifdef LIVEMOD_FIXTURE_IMAGE_NODELETE
  auto report = check(LIVEMOD_FIXTURE_IMAGE_NODELETE, plain());
  ASSERT_THAT(report, IsOk());
  const auto pins = with_code(*report, errc::image_pinned);
  ASSERT_TRUE(std::any_of(pins.begin(), pins.end(), [](const finding* f) {
    return f->message.find("DF_1_NODELETE") != std::string::npos;
  })) << describe(*report);
#else
  GTEST_SKIP() << "LIVEMOD_FIXTURE_IMAGE_NODELETE was not built";
#endif
}

TEST(Check, ThreadLocalDestructorsAreAPin) {
#ifdef LIVEMOD_FIXTURE_IMAGE_TLS
  auto report = check(LIVEMOD_FIXTURE_IMAGE_TLS, plain());
  ASSERT_THAT(report, IsOk());
  const auto pins = with_code(*report, errc::image_pinned);
  ASSERT_FALSE(pins.empty()) << describe(*report);
  EXPECT_THAT(pins[0]->message, HasSubstr("thread_local"));
  EXPECT_EQ(pins[0]->level, severity::warning);
#else
  GTEST_SKIP() << "LIVEMOD_FIXTURE_IMAGE_TLS was not built";
#endif
}

TEST(Check, FindingsAreSortedErrorsFirst) {
  // The manifest warning is found before the undefined symbol; the error must come first.
  auto report = check(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL, plain(true));
  ASSERT_THAT(report, IsOk());
  ASSERT_GE(report->findings.size(), 2u);
  EXPECT_EQ(report->findings.front().level, severity::error);
  EXPECT_EQ(report->findings.front().code, errc::unresolved_symbol);
  EXPECT_TRUE(std::is_sorted(report->findings.begin(), report->findings.end(),
                             [](const finding& a, const finding& b) { return a.level > b.level; }));
  EXPECT_THAT(with_code(*report, errc::manifest_missing), Not(IsEmpty()));
}

TEST(Check, FilesThatCannotBeReadAreErrorsNotFindings) {
  temp_dir tmp;
  EXPECT_THAT(check(tmp.path() / "absent.so", plain()), HasCode(errc::file_not_found));
  check_options options = plain();
  options.host = tmp.path() / "absent-host";
  EXPECT_THAT(check(LIVEMOD_FIXTURE_CALCULATOR, options), HasCode(errc::file_not_found));
  compat::testing::write_text(tmp.path() / "text.so", "not an ELF file at all, just text\n");
  EXPECT_THAT(check(tmp.path() / "text.so", plain()), HasCode(errc::not_elf));
}

}  // namespace
}  // namespace livemod
