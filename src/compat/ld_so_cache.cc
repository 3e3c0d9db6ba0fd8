#include "compat/ld_so_cache.h"

#include <elf.h>

#include <bit>
#include <cstring>

#include "os/mapped_file.h"

namespace livemod::compat {
namespace {

constexpr std::string_view k_magic_new = "glibc-ld.so.cache";
constexpr std::string_view k_version_new = "1.1";
constexpr std::string_view k_magic_old = "ld.so-1.7.0";

// sizeof(struct cache_file_new): magic 17 + version 3 + nlibs 4 + len_strings 4 + flags 1 +
// padding 3 + extension_offset 4 + unused 12.
constexpr std::size_t k_new_header_size = 48;
constexpr std::size_t k_new_entry_size = 24;  // sizeof(struct file_entry_new)
// sizeof(struct cache_file): magic 11, padded to 12, + nlibs 4.
constexpr std::size_t k_old_header_size = 16;
constexpr std::size_t k_old_entry_size = 12;  // sizeof(struct file_entry)
// ALIGN_CACHE aligns to __alignof__(struct cache_file_new), 8 for its uint64_t hwcap.
constexpr std::size_t k_new_alignment = 8;

// The endianness bits of cache_file_new.flags (glibc 2.32+; 0 means an older ldconfig that did
// not record it, which glibc accepts).
constexpr std::uint8_t k_endian_mask = 3;
constexpr std::uint8_t k_endian_unset = 0;
constexpr std::uint8_t k_endian_little = 2;
constexpr std::uint8_t k_endian_big = 3;

template <class T>
T load_at(std::span<const std::byte> bytes, std::size_t offset) {
  T value{};
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

bool has_prefix(std::span<const std::byte> bytes, std::size_t offset, std::string_view text) {
  return offset <= bytes.size() && bytes.size() - offset >= text.size() &&
         std::memcmp(bytes.data() + offset, text.data(), text.size()) == 0;
}

// A NUL-terminated string at `base + offset`, entirely inside the buffer.
result<std::string> string_at(std::span<const std::byte> bytes, std::size_t base,
                              std::uint32_t offset, std::string_view source, std::size_t index) {
  const std::size_t start = base + offset;
  if (start < base || start >= bytes.size()) {
    return fail(errc::truncated, std::string(source),
                "entry " + std::to_string(index) + " names a string at offset " +
                    std::to_string(start) + ", past the end of the cache (" +
                    std::to_string(bytes.size()) + " bytes)",
                "run ldconfig to rebuild the cache");
  }
  const auto* first = reinterpret_cast<const char*>(bytes.data() + start);
  const void* nul = std::memchr(first, 0, bytes.size() - start);
  if (nul == nullptr) {
    return fail(errc::truncated, std::string(source),
                "entry " + std::to_string(index) + ": string at offset " + std::to_string(start) +
                    " has no terminating NUL before the end of the cache",
                "run ldconfig to rebuild the cache");
  }
  return std::string(first, static_cast<const char*>(nul));
}

tl::unexpected<error> truncated(std::string_view source, std::string what, std::size_t need,
                                std::size_t have) {
  return fail(
      errc::truncated, std::string(source),
      what + " needs " + std::to_string(need) + " bytes but the cache has " + std::to_string(have),
      "run ldconfig to rebuild the cache");
}

result<std::vector<ld_so_cache_entry>> parse_new(std::span<const std::byte> bytes, std::size_t at,
                                                 std::string_view source) {
  if (bytes.size() - at < k_new_header_size) {
    return truncated(source, "the header", at + k_new_header_size, bytes.size());
  }
  const auto nlibs = load_at<std::uint32_t>(bytes, at + 20);
  const auto endian =
      static_cast<std::uint8_t>(load_at<std::uint8_t>(bytes, at + 28) & k_endian_mask);
  const std::uint8_t native =
      std::endian::native == std::endian::little ? k_endian_little : k_endian_big;
  // glibc's cache_file_new_matches_endian: an unset marker is accepted, anything else must
  // match this machine (the integers are in the writer's byte order).
  if (endian != k_endian_unset && endian != native) {
    return fail(
        errc::io_error, std::string(source),
        "the cache was written for the other byte order (flags " + std::to_string(endian) + ")",
        "run ldconfig on this machine to rebuild it");
  }
  // The same overflow-safe test glibc makes before trusting nlibs.
  if ((bytes.size() - at - k_new_header_size) / k_new_entry_size < nlibs) {
    return truncated(source, std::to_string(nlibs) + " entries",
                     at + k_new_header_size + std::size_t{nlibs} * k_new_entry_size, bytes.size());
  }
  std::vector<ld_so_cache_entry> entries;
  entries.reserve(nlibs);
  for (std::size_t i = 0; i < nlibs; ++i) {
    const std::size_t e = at + k_new_header_size + i * k_new_entry_size;
    ld_so_cache_entry entry;
    entry.flags = load_at<std::int32_t>(bytes, e);
    entry.hwcap = load_at<std::uint64_t>(bytes, e + 16);
    // In the new format the string offsets count from the new header, which is the start of
    // the file unless an old-format cache precedes it (glibc: string_table = cache_new).
    auto key = string_at(bytes, at, load_at<std::uint32_t>(bytes, e + 4), source, i);
    if (!key) return fail(std::move(key.error()));
    auto value = string_at(bytes, at, load_at<std::uint32_t>(bytes, e + 8), source, i);
    if (!value) return fail(std::move(value.error()));
    entry.key = std::move(*key);
    entry.value = std::move(*value);
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace

std::optional<std::int32_t> ld_so_cache_flags(elf_class cls, std::uint16_t machine) {
  // glibc's per-architecture _dl_cache_check_flags (sysdeps/unix/sysv/linux/*/dl-cache.h).
  switch (machine) {
    case EM_X86_64:
      return cls == elf_class::elf64 ? k_cache_flag_elf_libc6 | k_cache_flag_x8664_lib64
                                     : k_cache_flag_elf_libc6 | k_cache_flag_x8664_libx32;
    case EM_AARCH64:
      if (cls == elf_class::elf64) return k_cache_flag_elf_libc6 | k_cache_flag_aarch64_lib64;
      return std::nullopt;
    case EM_386:
      // The generic rule: plain libc6 entries (no architecture bits).
      if (cls == elf_class::elf32) return k_cache_flag_elf_libc6;
      return std::nullopt;
    default: return std::nullopt;
  }
}

result<ld_so_cache> ld_so_cache::load(const std::filesystem::path& path) {
  // Mapped, as ld.so maps it (_dl_sysdep_read_whole_file); ldconfig replaces the file by
  // rename, so the mapping never sees a half-written cache.
  auto file = os::mapped_file::open(path);
  if (!file) return fail(std::move(file.error()));
  return parse(file->bytes(), path.string());
}

result<ld_so_cache> ld_so_cache::parse(std::span<const std::byte> bytes, std::string_view source) {
  ld_so_cache cache;
  if (has_prefix(bytes, 0, k_magic_new)) {
    if (!has_prefix(bytes, k_magic_new.size(), k_version_new)) {
      return fail(errc::io_error, std::string(source),
                  "unsupported cache version (only " + std::string(k_version_new) + " is known)",
                  "run ldconfig to rebuild the cache");
    }
    auto entries = parse_new(bytes, 0, source);
    if (!entries) return fail(std::move(entries.error()));
    cache.entries_ = std::move(*entries);
    cache.format_ = format::new_format;
    return cache;
  }
  if (!has_prefix(bytes, 0, k_magic_old)) {
    if (bytes.size() < k_magic_old.size()) {
      return truncated(source, "the magic number", k_magic_new.size(), bytes.size());
    }
    return fail(errc::io_error, std::string(source), "not an ld.so cache (unknown magic)",
                "run ldconfig to rebuild the cache");
  }
  if (bytes.size() < k_old_header_size) {
    return truncated(source, "the old-format header", k_old_header_size, bytes.size());
  }
  const auto nlibs = load_at<std::uint32_t>(bytes, 12);
  if ((bytes.size() - k_old_header_size) / k_old_entry_size < nlibs) {
    return truncated(source, std::to_string(nlibs) + " old-format entries",
                     k_old_header_size + std::size_t{nlibs} * k_old_entry_size, bytes.size());
  }
  const std::size_t old_end = k_old_header_size + std::size_t{nlibs} * k_old_entry_size;
  const std::size_t new_at = (old_end + k_new_alignment - 1) & ~(k_new_alignment - 1);
  // glibc prefers the new cache hidden after the old one whenever its magic is there.
  if (new_at <= bytes.size() && has_prefix(bytes, new_at, k_magic_new) &&
      has_prefix(bytes, new_at + k_magic_new.size(), k_version_new)) {
    auto entries = parse_new(bytes, new_at, source);
    if (!entries) return fail(std::move(entries.error()));
    cache.entries_ = std::move(*entries);
    cache.format_ = format::compat_format;
    return cache;
  }
  // Old format alone: strings count from the end of the entry table.
  cache.format_ = format::old_format;
  cache.entries_.reserve(nlibs);
  for (std::size_t i = 0; i < nlibs; ++i) {
    const std::size_t e = k_old_header_size + i * k_old_entry_size;
    ld_so_cache_entry entry;
    entry.flags = load_at<std::int32_t>(bytes, e);
    auto key = string_at(bytes, old_end, load_at<std::uint32_t>(bytes, e + 4), source, i);
    if (!key) return fail(std::move(key.error()));
    auto value = string_at(bytes, old_end, load_at<std::uint32_t>(bytes, e + 8), source, i);
    if (!value) return fail(std::move(value.error()));
    entry.key = std::move(*key);
    entry.value = std::move(*value);
    cache.entries_.push_back(std::move(entry));
  }
  return cache;
}

std::optional<std::string> ld_so_cache::lookup(std::string_view soname, std::int32_t flags) const {
  const ld_so_cache_entry* first = nullptr;
  for (const auto& entry : entries_) {
    if (entry.flags != flags || entry.key != soname) continue;
    if (entry.hwcap == 0) return entry.value;
    if (first == nullptr) first = &entry;
  }
  if (first != nullptr) return first->value;
  return std::nullopt;
}

}  // namespace livemod::compat
