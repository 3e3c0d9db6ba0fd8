// Helpers for the compat tests: scratch directories, copies of real binaries with one field
// changed (Boost.DLL's way of testing a reader), and ld.so.cache images built by hand.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace livemod::compat::testing {

namespace fs = std::filesystem;

// A directory that exists for the life of the object.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "livemod_compat_XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }
  // Creates the directory `relative` (and its parents) and returns its path.
  fs::path dir(const fs::path& relative) const {
    fs::create_directories(path_ / relative);
    return path_ / relative;
  }

 private:
  fs::path path_;
};

inline std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const fs::path& path, const std::string& text) {
  write_bytes(path, std::vector<char>(text.begin(), text.end()));
}

// Copies `from` to `to`, setting e_machine (little-endian files only, as the fixtures are).
inline void copy_with_machine(const fs::path& from, const fs::path& to, std::uint16_t machine) {
  std::vector<char> bytes = read_bytes(from);
  if (bytes.size() >= 20) {
    bytes[18] = static_cast<char>(machine & 0xff);
    bytes[19] = static_cast<char>(machine >> 8);
  }
  write_bytes(to, bytes);
}

// Copies `from` to `to`, setting EI_CLASS.
inline void copy_with_class(const fs::path& from, const fs::path& to, unsigned char cls) {
  std::vector<char> bytes = read_bytes(from);
  if (bytes.size() > EI_CLASS) bytes[EI_CLASS] = static_cast<char>(cls);
  write_bytes(to, bytes);
}

// Copies `from` to `to`, setting the byte at `offset`.
inline void copy_with_byte(const fs::path& from, const fs::path& to, std::size_t offset,
                           unsigned char value) {
  std::vector<char> bytes = read_bytes(from);
  if (bytes.size() > offset) bytes[offset] = static_cast<char>(value);
  write_bytes(to, bytes);
}

// e_machine of a little-endian ELF file, 0 if unreadable.
inline std::uint16_t machine_of(const fs::path& path) {
  const std::vector<char> bytes = read_bytes(path);
  if (bytes.size() < 20) return 0;
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[18]) |
                                    (static_cast<unsigned char>(bytes[19]) << 8));
}

// The System V ELF hash (vna_hash, vd_hash).
inline std::uint32_t elf_hash(std::string_view name) {
  std::uint32_t h = 0;
  for (const char c : name) {
    h = (h << 4) + static_cast<unsigned char>(c);
    const std::uint32_t g = h & 0xf0000000u;
    if (g != 0) h ^= g >> 24;
    h &= ~g;
  }
  return h;
}

// An ld.so.cache entry to write.
struct cache_entry_spec {
  std::int32_t flags = 0x0303;
  std::string key;
  std::string value;
  std::uint64_t hwcap = 0;
};

template <class T>
void put(std::vector<std::byte>& out, std::size_t at, T value) {
  if (out.size() < at + sizeof value) out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);
}

inline void put_text(std::vector<std::byte>& out, std::size_t at, std::string_view text) {
  if (out.size() < at + text.size()) out.resize(at + text.size());
  std::memcpy(out.data() + at, text.data(), text.size());
}

// Appends the strings of `entries` at `at`, NUL-terminated; returns each key's and value's
// offset from `at`.
inline std::vector<std::pair<std::uint32_t, std::uint32_t>> put_strings(
    std::vector<std::byte>& out, std::size_t at, const std::vector<cache_entry_spec>& entries) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> offsets;
  std::size_t pos = 0;
  for (const auto& e : entries) {
    const auto key = static_cast<std::uint32_t>(pos);
    put_text(out, at + pos, e.key);
    pos += e.key.size();
    put<char>(out, at + pos++, '\0');
    const auto value = static_cast<std::uint32_t>(pos);
    put_text(out, at + pos, e.value);
    pos += e.value.size();
    put<char>(out, at + pos++, '\0');
    offsets.emplace_back(key, value);
  }
  return offsets;
}

// A new-format cache ("glibc-ld.so.cache1.1") at offset `at` of `out`.
inline void put_new_cache(std::vector<std::byte>& out, std::size_t at,
                          const std::vector<cache_entry_spec>& entries, std::uint8_t endian = 2) {
  put_text(out, at, "glibc-ld.so.cache1.1");
  put<std::uint32_t>(out, at + 20, static_cast<std::uint32_t>(entries.size()));
  put<std::uint8_t>(out, at + 28, endian);
  put<std::uint32_t>(out, at + 32, 0);  // extension offset
  put<std::uint32_t>(out, at + 44, 0);
  const std::size_t strings_rel = 48 + 24 * entries.size();
  const auto offsets = put_strings(out, at + strings_rel, entries);
  put<std::uint32_t>(out, at + 24, static_cast<std::uint32_t>(out.size() - at - strings_rel));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::size_t e = at + 48 + 24 * i;
    put<std::int32_t>(out, e, entries[i].flags);
    put<std::uint32_t>(out, e + 4, static_cast<std::uint32_t>(strings_rel) + offsets[i].first);
    put<std::uint32_t>(out, e + 8, static_cast<std::uint32_t>(strings_rel) + offsets[i].second);
    put<std::uint32_t>(out, e + 12, 0);
    put<std::uint64_t>(out, e + 16, entries[i].hwcap);
  }
}

inline std::vector<std::byte> build_new_cache(const std::vector<cache_entry_spec>& entries,
                                              std::uint8_t endian = 2) {
  std::vector<std::byte> out;
  put_new_cache(out, 0, entries, endian);
  return out;
}

// An old-format cache ("ld.so-1.7.0"); with `then_new`, ldconfig's compat format: the new
// cache follows at the next 8-byte boundary, and the old entries point at its strings.
inline std::vector<std::byte> build_old_cache(const std::vector<cache_entry_spec>& entries,
                                              const std::vector<cache_entry_spec>* then_new) {
  std::vector<std::byte> out;
  put_text(out, 0, "ld.so-1.7.0");
  put<char>(out, 11, '\0');
  put<std::uint32_t>(out, 12, static_cast<std::uint32_t>(entries.size()));
  const std::size_t old_end = 16 + 12 * entries.size();
  out.resize(old_end);
  std::size_t strings_at = old_end;
  if (then_new != nullptr) {
    const std::size_t new_at = (old_end + 7) & ~std::size_t{7};
    out.resize(new_at);
    put_new_cache(out, new_at, *then_new);
    strings_at = out.size();
  }
  const auto offsets = put_strings(out, strings_at, entries);
  const auto base = static_cast<std::uint32_t>(strings_at - old_end);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::size_t e = 16 + 12 * i;
    put<std::int32_t>(out, e, entries[i].flags);
    put<std::uint32_t>(out, e + 4, base + offsets[i].first);
    put<std::uint32_t>(out, e + 8, base + offsets[i].second);
  }
  return out;
}

}  // namespace livemod::compat::testing
