// read_image held to the real tools: a deterministic sample of the system's shared libraries,
// compared field by field with GNU readelf and nm; and every shared object of the system read
// without an error. The tools run as `readelf -d -V -W` and `nm -D` (definitions and references
// told apart by nm's columns), two processes per file.
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "image/binutils_view.h"
#include "livemod/image.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

namespace fs = std::filesystem;
using testing_support::ask_binutils;
using testing_support::binutils_view;
using testing_support::HasCode;
using testing_support::IsOk;
using testing_support::nm_spelling;

const fs::path system_lib_dir = "/usr/lib/x86_64-linux-gnu";

bool starts_with_elf_magic(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "\x7f" "ELF", 4) == 0;
}

// Regular files (not the symlinks that name them again) whose name says shared object, sorted.
std::vector<fs::path> shared_objects(bool elf_only) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(system_lib_dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool so = name.size() > 3 && (name.ends_with(".so") || name.find(".so.") != std::string::npos);
    if (!so || e.is_symlink(ec) || !e.is_regular_file(ec)) continue;
    if (elf_only && !starts_with_elf_magic(e.path())) continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "only in livemod: a, b; only in the tool: c" for a failure message.
std::string difference(std::vector<std::string> ours, std::vector<std::string> theirs) {
  std::sort(ours.begin(), ours.end());
  std::sort(theirs.begin(), theirs.end());
  std::vector<std::string> only_ours, only_theirs;
  std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(), std::back_inserter(only_ours));
  std::set_difference(theirs.begin(), theirs.end(), ours.begin(), ours.end(), std::back_inserter(only_theirs));
  std::string out = "only in livemod:";
  for (std::size_t i = 0; i < only_ours.size() && i < 8; ++i) out += " " + only_ours[i];
  out += "; only in the tool:";
  for (std::size_t i = 0; i < only_theirs.size() && i < 8; ++i) out += " " + only_theirs[i];
  return out;
}

TEST(system_libraries, agree_with_readelf_and_nm) {
  const std::vector<fs::path> all = shared_objects(/*elf_only=*/true);
  ASSERT_GE(all.size(), 50u) << "too few shared libraries in " << system_lib_dir;
  // Every Nth of the sorted list: about 55 files, the same ones on every run of one system.
  const std::size_t step = std::max<std::size_t>(1, all.size() / 55);
  int compared = 0;
  for (std::size_t i = 0; i < all.size(); i += step) {
    const fs::path& p = all[i];
    SCOPED_TRACE(p.string());
    auto img = read_image(p);
    ASSERT_THAT(img, IsOk());
    bool tools_ok = false;
    const binutils_view tool = ask_binutils(p, tools_ok);
    if (!tools_ok) {
      ADD_FAILURE() << "readelf or nm failed on " << p;
      continue;
    }
    EXPECT_EQ(img->soname, tool.soname);
    EXPECT_EQ(img->needed, tool.needed);
    EXPECT_EQ(img->rpath, tool.rpath);
    EXPECT_EQ(img->runpath, tool.runpath);

    std::vector<std::pair<std::string, std::vector<std::string>>> needs;
    for (const version_need& n : img->version_needs) needs.emplace_back(n.file, n.versions);
    EXPECT_EQ(needs, tool.needs);
    EXPECT_EQ(img->version_defs, tool.defs);

    std::vector<std::string> defined, undefined, unique;
    for (const elf_symbol& s : img->symbols) {
      (s.defined ? defined : undefined).push_back(nm_spelling(s));
      if (s.defined && s.binding == STB_GNU_UNIQUE) unique.push_back(s.name);
    }
    std::sort(defined.begin(), defined.end());
    std::sort(undefined.begin(), undefined.end());
    std::sort(unique.begin(), unique.end());
    EXPECT_TRUE(defined == tool.defined) << "defined symbols: " << difference(defined, tool.defined);
    EXPECT_TRUE(undefined == tool.undefined)
        << "undefined symbols: " << difference(undefined, tool.undefined);
    EXPECT_EQ(unique, tool.unique);
    ++compared;
  }
  EXPECT_GE(compared, 50);
}

// Every shared object of the system reads, and the text files among them (linker scripts
// such as libc.so) are not_elf.
TEST(system_libraries, every_shared_object_reads) {
  int read = 0;
  for (const fs::path& p : shared_objects(/*elf_only=*/false)) {
    SCOPED_TRACE(p.string());
    auto img = read_image(p);
    if (!starts_with_elf_magic(p)) {
      EXPECT_THAT(img, HasCode(errc::not_elf));
      continue;
    }
    EXPECT_THAT(img, IsOk());
    ++read;
  }
  EXPECT_GE(read, 50);
}

}  // namespace
}  // namespace livemod
