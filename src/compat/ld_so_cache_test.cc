#include "compat/ld_so_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <span>

#include "compat/test_support.h"
#include "livemod/image.h"
#include "testing/matchers.h"

namespace livemod::compat {
namespace {

using testing::build_new_cache;
using testing::build_old_cache;
using testing::cache_entry_spec;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

constexpr std::int32_t k_x86_64 = 0x0303;
constexpr std::int32_t k_i386 = 0x0003;
constexpr std::int32_t k_aarch64 = 0x0a03;

// The machine this test runs on, from its own executable.
image_info self_image() {
  auto self = read_image(std::filesystem::read_symlink("/proc/self/exe"));
  EXPECT_THAT(self, IsOk());
  return self ? *self : image_info{};
}

result<ld_so_cache> parse(const std::vector<std::byte>& bytes) {
  return ld_so_cache::parse(std::span<const std::byte>(bytes), "test cache");
}

TEST(LdSoCacheFlags, MatchGlibcPerArchitecture) {
  EXPECT_EQ(ld_so_cache_flags(elf_class::elf64, EM_X86_64), k_x86_64);
  EXPECT_EQ(ld_so_cache_flags(elf_class::elf64, EM_AARCH64), k_aarch64);
  EXPECT_EQ(ld_so_cache_flags(elf_class::elf32, EM_386), k_i386);
  EXPECT_EQ(ld_so_cache_flags(elf_class::elf32, EM_X86_64), 0x0803);  // x32
  EXPECT_EQ(ld_so_cache_flags(elf_class::elf64, EM_MIPS), std::nullopt);
}

TEST(LdSoCache, ParsesAHandBuiltCacheAndPicksTheRightArchitecture) {
  // i386 first: a lookup that ignored the flags would return it.
  const auto bytes = build_new_cache({
      {k_i386, "libz.so.1", "/usr/lib/i386-linux-gnu/libz.so.1"},
      {k_x86_64, "libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1"},
      {k_aarch64, "libz.so.1", "/usr/lib/aarch64-linux-gnu/libz.so.1"},
      {k_x86_64, "libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6"},
  });
  auto cache = parse(bytes);
  ASSERT_THAT(cache, IsOk());
  EXPECT_EQ(cache->file_format(), ld_so_cache::format::new_format);
  ASSERT_THAT(cache->entries(), SizeIs(4));
  EXPECT_EQ(cache->entries()[3].key, "libm.so.6");
  EXPECT_EQ(cache->entries()[3].value, "/lib/x86_64-linux-gnu/libm.so.6");
  EXPECT_EQ(cache->lookup("libz.so.1", k_x86_64), "/usr/lib/x86_64-linux-gnu/libz.so.1");
  EXPECT_EQ(cache->lookup("libz.so.1", k_i386), "/usr/lib/i386-linux-gnu/libz.so.1");
  EXPECT_EQ(cache->lookup("libz.so.1", k_aarch64), "/usr/lib/aarch64-linux-gnu/libz.so.1");
  EXPECT_EQ(cache->lookup("libm.so.6", k_i386), std::nullopt);
  EXPECT_EQ(cache->lookup("libnone.so", k_x86_64), std::nullopt);
}

TEST(LdSoCache, PrefersEntriesWithoutHardwareCapabilities) {
  const auto bytes = build_new_cache({
      {k_x86_64, "libfast.so", "/lib/glibc-hwcaps/x86-64-v4/libfast.so", 1ULL << 62},
      {k_x86_64, "libfast.so", "/lib/libfast.so", 0},
      {k_x86_64, "libonly.so", "/lib/glibc-hwcaps/x86-64-v3/libonly.so", 1ULL << 62},
  });
  auto cache = parse(bytes);
  ASSERT_THAT(cache, IsOk());
  EXPECT_EQ(cache->lookup("libfast.so", k_x86_64), "/lib/libfast.so");
  EXPECT_EQ(cache->lookup("libonly.so", k_x86_64), "/lib/glibc-hwcaps/x86-64-v3/libonly.so");
}

TEST(LdSoCache, ReadsTheNewCacheBehindAnOldOne) {
  const std::vector<cache_entry_spec> old_entries = {{k_x86_64, "libold.so", "/old/libold.so"}};
  const std::vector<cache_entry_spec> new_entries = {{k_x86_64, "libnew.so.2", "/new/libnew.so.2"},
                                                     {k_x86_64, "libc.so.6", "/new/libc.so.6"}};
  auto cache = parse(build_old_cache(old_entries, &new_entries));
  ASSERT_THAT(cache, IsOk());
  // glibc reads only the new part when it is there.
  EXPECT_EQ(cache->file_format(), ld_so_cache::format::compat_format);
  EXPECT_EQ(cache->lookup("libnew.so.2", k_x86_64), "/new/libnew.so.2");
  EXPECT_EQ(cache->lookup("libc.so.6", k_x86_64), "/new/libc.so.6");
  EXPECT_EQ(cache->lookup("libold.so", k_x86_64), std::nullopt);
}

TEST(LdSoCache, ReadsAnOldCacheAlone) {
  auto cache = parse(build_old_cache(
      {{k_x86_64, "libold.so", "/old/libold.so"}, {k_i386, "libold.so", "/old32/libold.so"}},
      nullptr));
  ASSERT_THAT(cache, IsOk());
  EXPECT_EQ(cache->file_format(), ld_so_cache::format::old_format);
  EXPECT_EQ(cache->lookup("libold.so", k_x86_64), "/old/libold.so");
  EXPECT_EQ(cache->lookup("libold.so", k_i386), "/old32/libold.so");
}

TEST(LdSoCache, EveryTruncationIsAnErrorNotACrash) {
  const auto bytes = build_new_cache(
      {{k_x86_64, "libz.so.1", "/lib/libz.so.1"}, {k_x86_64, "libm.so.6", "/lib/libm.so.6"}});
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    // Copied into a buffer of exactly `size` bytes, so ASan sees any read past it.
    const std::vector<std::byte> cut(bytes.begin(),
                                     bytes.begin() + static_cast<std::ptrdiff_t>(size));
    auto cache = ld_so_cache::parse(std::span<const std::byte>(cut.data(), cut.size()), "cut");
    EXPECT_FALSE(cache.has_value()) << "parsed a cache cut to " << size << " bytes";
  }
  // Cut inside the entry table: named as such.
  const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + 48 + 30);
  EXPECT_THAT(parse(cut), HasCodeAndMessage(errc::truncated, HasSubstr("2 entries")));
}

TEST(LdSoCache, AStringOutsideTheFileIsReported) {
  auto bytes = build_new_cache({{k_x86_64, "libz.so.1", "/lib/libz.so.1"}});
  testing::put<std::uint32_t>(bytes, 48 + 8, 0x7fffffff);  // the value offset
  EXPECT_THAT(parse(bytes), HasCodeAndMessage(errc::truncated, HasSubstr("past the end")));
}

TEST(LdSoCache, AnUnterminatedStringIsReported) {
  auto bytes = build_new_cache({{k_x86_64, "libz.so.1", "/lib/libz.so.1"}});
  bytes.pop_back();  // the value's NUL, the last byte of the file
  EXPECT_THAT(parse(bytes), HasCodeAndMessage(errc::truncated, HasSubstr("terminating NUL")));
}

TEST(LdSoCache, ACacheForTheOtherByteOrderIsRefused) {
  const std::uint8_t other = std::endian::native == std::endian::little ? 3 : 2;
  EXPECT_THAT(parse(build_new_cache({{k_x86_64, "libz.so.1", "/lib/libz.so.1"}}, other)),
              HasCodeAndMessage(errc::io_error, HasSubstr("byte order")));
  // 0: written before ldconfig recorded the byte order; glibc accepts it.
  EXPECT_THAT(parse(build_new_cache({{k_x86_64, "libz.so.1", "/lib/libz.so.1"}}, 0)), IsOk());
}

TEST(LdSoCache, UnknownMagicIsRefused) {
  std::vector<std::byte> bytes(64, std::byte{'x'});
  EXPECT_THAT(parse(bytes), HasCodeAndMessage(errc::io_error, HasSubstr("magic")));
  EXPECT_THAT(parse({}), HasCode(errc::truncated));
}

TEST(LdSoCache, AMissingFileIsFileNotFound) {
  EXPECT_THAT(ld_so_cache::load("/nonexistent/ld.so.cache"), HasCode(errc::file_not_found));
}

TEST(LdSoCache, ATruncatedCacheFileIsReported) {
  testing::temp_dir tmp;
  const std::vector<char> real = testing::read_bytes("/etc/ld.so.cache");
  if (real.size() < 200) GTEST_SKIP() << "no usable /etc/ld.so.cache on this machine";
  testing::write_bytes(tmp.path() / "ld.so.cache",
                       std::vector<char>(real.begin(), real.begin() + 100));
  EXPECT_THAT(ld_so_cache::load(tmp.path() / "ld.so.cache"), HasCode(errc::truncated));
}

TEST(LdSoCache, TheRealCacheMapsLibcToAnExistingLibcOfThisMachine) {
  if (!std::filesystem::exists("/etc/ld.so.cache")) GTEST_SKIP() << "no /etc/ld.so.cache";
  auto cache = ld_so_cache::load("/etc/ld.so.cache");
  ASSERT_THAT(cache, IsOk());
  EXPECT_GT(cache->entries().size(), 10u);
  const image_info self = self_image();
  const auto flags = ld_so_cache_flags(self.cls, self.machine);
  ASSERT_TRUE(flags.has_value()) << "no cache flags known for " << self.machine_name;
  const auto libc = cache->lookup("libc.so.6", *flags);
  ASSERT_TRUE(libc.has_value());
  ASSERT_TRUE(std::filesystem::exists(*libc)) << *libc;
  auto image = read_image(*libc);
  ASSERT_THAT(image, IsOk());
  EXPECT_EQ(image->machine, self.machine);
  EXPECT_EQ(image->cls, self.cls);
  EXPECT_EQ(image->soname, "libc.so.6");
}

// `ldconfig -p` prints the same cache through glibc's own reader; the two views must agree.
TEST(LdSoCache, AgreesWithLdconfig) {
  const char* ldconfig = nullptr;
  for (const char* candidate : {"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
    if (std::filesystem::exists(candidate)) ldconfig = candidate;
  }
  if (ldconfig == nullptr || !std::filesystem::exists("/etc/ld.so.cache")) {
    GTEST_SKIP() << "no ldconfig or no /etc/ld.so.cache";
  }
  auto cache = ld_so_cache::load("/etc/ld.so.cache");
  ASSERT_THAT(cache, IsOk());

  const std::string command = std::string(ldconfig) + " -p -C /etc/ld.so.cache";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
  ASSERT_NE(pipe, nullptr);
  // "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1"
  const std::map<std::string, std::int32_t> flags_by_label = {
      {"libc6,x86-64", k_x86_64}, {"libc6", k_i386}, {"libc6,AArch64", k_aarch64}};
  char line[4096];
  std::size_t listed = 0;
  std::map<std::pair<std::string, std::int32_t>, std::string> first_plain;
  std::string header;
  while (std::fgets(line, sizeof line, pipe.get()) != nullptr) {
    const std::string text(line);
    if (text.empty() || text[0] != '\t') {
      header = text;
      continue;
    }
    ++listed;
    const std::size_t open = text.find(" (");
    const std::size_t close = text.find(") => ");
    ASSERT_NE(open, std::string::npos) << text;
    ASSERT_NE(close, std::string::npos) << text;
    const std::string key = text.substr(1, open - 1);
    const std::string label = text.substr(open + 2, close - open - 2);
    std::string value = text.substr(close + 5);
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    const auto known = flags_by_label.find(label);  // "hwcap" labels are not in the map
    const bool found = std::any_of(
        cache->entries().begin(), cache->entries().end(), [&](const ld_so_cache_entry& e) {
          return e.key == key && e.value == value &&
                 (known == flags_by_label.end() || e.flags == known->second);
        });
    EXPECT_TRUE(found) << "ldconfig lists " << key << " (" << label << ") => " << value;
    if (known != flags_by_label.end()) {
      // Entries without hwcap requirements, first one per name: what lookup() must answer.
      first_plain.emplace(std::make_pair(key, known->second), value);
    }
  }
  EXPECT_EQ(listed, cache->entries().size()) << header;
  ASSERT_FALSE(first_plain.empty());
  for (const auto& [wanted, path] : first_plain) {
    EXPECT_EQ(cache->lookup(wanted.first, wanted.second), path) << wanted.first;
  }
  const image_info self = self_image();
  const auto flags = ld_so_cache_flags(self.cls, self.machine);
  ASSERT_TRUE(flags.has_value());
  EXPECT_TRUE(first_plain.contains({"libc.so.6", *flags}));
}

}  // namespace
}  // namespace livemod::compat
