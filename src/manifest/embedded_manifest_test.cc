// Manifests as the build embeds them: read from the fixture modules' .livemod.manifest
// sections with libelf directly (the image layer has its own tests), then parsed.
#include <fcntl.h>
#include <gelf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "livemod/manifest.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

// The bytes of `section` in the ELF file at `path`, or nullopt (with a test failure) if absent.
std::optional<std::string> read_section(const char* path, const char* section) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    ADD_FAILURE() << "libelf: " << elf_errmsg(-1);
    return std::nullopt;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return std::nullopt;
  }
  std::optional<std::string> out;
  if (Elf* elf = elf_begin(fd, ELF_C_READ, nullptr)) {
    std::size_t names = 0;
    if (elf_getshdrstrndx(elf, &names) == 0) {
      for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn && !out; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr)) continue;
        const char* name = elf_strptr(elf, names, shdr.sh_name);
        if (!name || std::string(name) != section) continue;
        Elf_Data* data = elf_getdata(scn, nullptr);
        out = data && data->d_buf ? std::string(static_cast<const char*>(data->d_buf), data->d_size)
                                  : std::string();
      }
    }
    elf_end(elf);
  }
  close(fd);
  if (!out) ADD_FAILURE() << path << " has no section " << section;
  return out;
}

result<manifest> embedded(const char* path) {
  auto text = read_section(path, ".livemod.manifest");
  if (!text) return fail(errc::manifest_missing, path, "no manifest section");
  return parse_manifest(*text, path);
}

TEST(EmbeddedManifestTest, CalculatorParsesWithThisBuildsFingerprint) {
  auto m = embedded(LIVEMOD_FIXTURE_CALCULATOR);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->name, "calculator");
  EXPECT_EQ(m->version.to_string(), "1.0.0");
  EXPECT_EQ(m->abi, supported_abi_version());
  ASSERT_EQ(m->interfaces.size(), 1u);
  EXPECT_EQ(m->interfaces[0].methods, 2u);
  EXPECT_EQ(m->interfaces[0].layout_hash, 0x9e3779b97f4a7c15u);
  EXPECT_EQ(m->entry_points.on_load, "calculator_on_load");
  // The fingerprint was written by the build, from the compiler's macros: the fixture and the
  // library were compiled by the same compiler with the same flags.
  ASSERT_TRUE(m->fingerprint.has_value());
  build_fingerprint lib = library_fingerprint();
  EXPECT_EQ(m->fingerprint->compiler, lib.compiler);
  EXPECT_EQ(m->fingerprint->compiler_major, lib.compiler_major);
  EXPECT_EQ(m->fingerprint->cxx11_abi, lib.cxx11_abi);
  EXPECT_EQ(m->fingerprint->arch, lib.arch);
  EXPECT_EQ(m->fingerprint->asan, lib.asan);
  EXPECT_EQ(m->fingerprint->tsan, lib.tsan);
  EXPECT_TRUE(compare_fingerprints(*m->fingerprint, lib).empty());
}

TEST(EmbeddedManifestTest, DependenciesAndRangesSurviveTheBuild) {
  auto m = embedded(LIVEMOD_FIXTURE_MANIFEST_WITH_DEPENDENCIES);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->name, "with_dependencies");
  EXPECT_EQ(m->version.to_string(), "2.1.0-beta.3");
  ASSERT_EQ(m->dependencies.size(), 3u);
  EXPECT_EQ(m->dependencies[0].name, "calculator");
  EXPECT_TRUE(m->dependencies[0].range.contains(*parse_semver("1.0.0")));
  EXPECT_FALSE(m->dependencies[0].range.contains(*parse_semver("2.0.0")));
  EXPECT_EQ(m->dependencies[1].kind, dependency_kind::weak);
  EXPECT_EQ(m->dependencies[1].range.text(), ">=1.2 <2 || ~3.1.4");
  EXPECT_TRUE(m->dependencies[1].range.contains(*parse_semver("3.1.9")));
  EXPECT_FALSE(m->dependencies[1].range.contains(*parse_semver("3.2.0")));
  EXPECT_EQ(m->dependencies[2].kind, dependency_kind::upward);
  EXPECT_EQ(m->state_schema, 2u);
  EXPECT_THAT(m->permissions, ElementsAre("filesystem.read", "threads"));
  EXPECT_EQ(m->entry_points.restore_state, "wd_restore_state");
  EXPECT_TRUE(m->fingerprint.has_value());
}

TEST(EmbeddedManifestTest, MissingVersion) {
  EXPECT_THAT(embedded(LIVEMOD_FIXTURE_MANIFEST_MISSING_VERSION),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr(": manifest field \"version\" is missing, expected a "
                                          "semantic version like \"1.2.0\"; fix the module's "
                                          "manifest json")));
}

TEST(EmbeddedManifestTest, AbiAsAString) {
  EXPECT_THAT(embedded(LIVEMOD_FIXTURE_MANIFEST_ABI_STRING),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr(": manifest field \"abi\" is \"1\", expected an integer "
                                          "from 1 to 4294967295")));
}

TEST(EmbeddedManifestTest, BadDependencyKind) {
  EXPECT_THAT(embedded(LIVEMOD_FIXTURE_MANIFEST_BAD_DEPENDENCY_KIND),
              HasCodeAndMessage(errc::manifest_schema,
                                HasSubstr("libmanifest_bad_dependency_kind.so: manifest field "
                                          "\"dependencies[1].kind\" is \"optional\", expected one "
                                          "of \"required\", \"weak\", \"upward\"; fix the "
                                          "module's manifest json")));
}

}  // namespace
}  // namespace livemod
