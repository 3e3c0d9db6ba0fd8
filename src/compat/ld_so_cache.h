// ld.so.cache: the index ldconfig writes so that ld.so finds a library by SONAME without
// walking directories. livemod reads it itself, the way glibc's elf/dl-cache.c does, so that a
// compatibility check follows the same path the dynamic linker will take.
//
//   auto cache = livemod::compat::ld_so_cache::load("/etc/ld.so.cache");
//   if (cache) {
//     auto flags = livemod::compat::ld_so_cache_flags(elf_class::elf64, 62 /* EM_X86_64 */);
//     if (auto p = cache->lookup("libc.so.6", *flags)) use(*p);
//   }
//
// Formats (glibc sysdeps/generic/dl-cache.h):
//   new    "glibc-ld.so.cache" "1.1", nlibs, len_strings, flags (endianness), extension
//          offset, 3 unused words, then nlibs entries {int32 flags, uint32 key, uint32 value,
//          uint32 osversion, uint64 hwcap}; key and value are offsets from the new header.
//   old    "ld.so-1.7.0", nlibs, nlibs entries {int32 flags, uint32 key, uint32 value}; offsets
//          from the end of the entries. ldconfig's "compat" format is an old cache followed, at
//          the next 8-byte boundary, by a new one; glibc then reads only the new one, and so
//          does this parser.
// Every offset and length is checked against the buffer: a truncated or corrupt cache is an
// error value, never a read out of bounds.
//
// Lifetime and threads: an ld_so_cache is a plain value owning its strings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "livemod/error.h"
#include "livemod/image.h"

namespace livemod::compat {

// Entry flags (glibc sysdeps/generic/ldconfig.h): the low byte is the library type, the
// second the architecture variant.
inline constexpr std::int32_t k_cache_flag_elf = 0x0001;
inline constexpr std::int32_t k_cache_flag_elf_libc6 = 0x0003;
inline constexpr std::int32_t k_cache_flag_x8664_lib64 = 0x0300;
inline constexpr std::int32_t k_cache_flag_x8664_libx32 = 0x0800;
inline constexpr std::int32_t k_cache_flag_aarch64_lib64 = 0x0a00;

// The entry flags ld.so accepts for an object of this class and machine: glibc's
// _dl_cache_check_flags, which for x86_64 is exactly FLAG_ELF_LIBC6 | FLAG_X8664_LIB64, so an
// i386 entry of the same name is never picked for an x86_64 module. nullopt for machines
// whose flags livemod does not know; the cache is then skipped, not guessed at.
std::optional<std::int32_t> ld_so_cache_flags(elf_class cls, std::uint16_t machine);

struct ld_so_cache_entry {
  std::int32_t flags = 0;
  std::string key;    // the SONAME, "libc.so.6"
  std::string value;  // the path, "/lib/x86_64-linux-gnu/libc.so.6"
  std::uint64_t hwcap = 0;
};

class ld_so_cache {
 public:
  enum class format : std::uint8_t { new_format, old_format, compat_format };

  // Reads and parses a cache file. Errors: file_not_found, permission_denied, io_error
  // (reading), and those of parse().
  static result<ld_so_cache> load(const std::filesystem::path& path);

  // Parses a cache image. `source` names it in messages. Errors:
  //   truncated  a header, an entry table or a string runs past the end of the buffer
  //   io_error   neither magic matches, or the cache was written for the other byte order
  static result<ld_so_cache> parse(std::span<const std::byte> bytes, std::string_view source);

  // The path for `soname` among entries whose flags equal `flags`, as glibc's search_cache:
  // entries without hardware-capability requirements (hwcap 0) are preferred, because
  // livemod cannot tell which CPU features the target machine has; otherwise the first match
  // in file order.
  std::optional<std::string> lookup(std::string_view soname, std::int32_t flags) const;

  const std::vector<ld_so_cache_entry>& entries() const { return entries_; }
  format file_format() const { return format_; }

 private:
  std::vector<ld_so_cache_entry> entries_;
  format format_ = format::new_format;
};

}  // namespace livemod::compat
