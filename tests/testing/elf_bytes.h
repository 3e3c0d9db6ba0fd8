// Test utility: a private copy of an ELF file that a test corrupts one field at a time, in the
// manner of Boost.DLL's tests, and writes to a temporary directory.
//
//   temp_dir dir;
//   elf_bytes elf = elf_bytes::from_file(LIVEMOD_FIXTURE_CALCULATOR);
//   elf.set_shdr(*elf.section(".dynsym"), elf_bytes::shdr_field::link, 999);
//   EXPECT_THAT(read_image(elf.write_to(dir / "bad.so")), HasCode(errc::corrupt_elf));
//
// Fields are written in the file's own class and byte order. Sections are found through
// libelf on the current bytes, so look them up before corrupting the headers that lead there.
// Failures of the utility itself (a missing section, an unreadable file) throw
// std::runtime_error, which GoogleTest reports as a test failure.
#pragma once

#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "testing/temp_dir.h"

namespace livemod::testing_support {

class elf_bytes {
 public:
  enum class ehdr_field {
    type, machine, version, entry, phoff, shoff, flags, ehsize, phentsize, phnum, shentsize,
    shnum, shstrndx
  };
  enum class shdr_field { name, type, flags, addr, offset, size, link, info, addralign, entsize };

  struct section_ref {
    std::size_t index = 0;
    std::size_t header_offset = 0;  // where its section header starts in the file
    GElf_Shdr header{};
    std::string name;
  };

  // One Vernaux of .gnu.version_r, with the file offsets a test needs to patch it.
  struct vernaux_ref {
    std::size_t offset = 0;       // the Vernaux structure
    std::size_t name_offset = 0;  // its version string in the string table
    std::string version;          // "GLIBC_2.34"
    std::uint16_t flags = 0;
    std::uint16_t other = 0;      // the version index symbols use
    std::uint32_t hash = 0;
  };
  // One Verneed of .gnu.version_r.
  struct verneed_ref {
    std::size_t offset = 0;  // the Verneed structure
    std::string file;        // "libc.so.6"
    std::vector<vernaux_ref> aux;
  };
  // One Verdef of .gnu.version_d; aux[0] names the version, the others its parents.
  struct verdef_ref {
    std::size_t offset = 0;  // the Verdef structure
    std::uint16_t index = 0;
    std::vector<std::size_t> aux;  // the Verdaux structures
    std::vector<std::string> names;
  };
  // Field offsets inside Verneed / Vernaux / Verdef / Verdaux; the same in both classes.
  static constexpr std::size_t vn_version = 0, vn_cnt = 2, vn_file = 4, vn_aux = 8, vn_next = 12;
  static constexpr std::size_t vna_hash = 0, vna_flags = 4, vna_other = 6, vna_name = 8,
                               vna_next = 12;
  static constexpr std::size_t vd_version = 0, vd_flags = 2, vd_ndx = 4, vd_cnt = 6, vd_hash = 8,
                               vd_aux = 12, vd_next = 16;
  static constexpr std::size_t vda_name = 0, vda_next = 4;

  explicit elf_bytes(std::vector<std::byte> bytes) : bytes_(std::move(bytes)) {
    if (elf_version(EV_CURRENT) == EV_NONE) throw std::runtime_error("libelf: elf_version");
  }

  static elf_bytes from_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    return elf_bytes(std::move(bytes));
  }

  std::vector<std::byte>& bytes() { return bytes_; }
  const std::vector<std::byte>& bytes() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  bool is64() const { return byte(EI_CLASS) == ELFCLASS64; }
  bool little_endian() const { return byte(EI_DATA) != ELFDATA2MSB; }

  std::uint8_t byte(std::size_t offset) const {
    check(offset, 1);
    return std::to_integer<std::uint8_t>(bytes_[offset]);
  }
  void set_byte(std::size_t offset, std::uint8_t value) {
    check(offset, 1);
    bytes_[offset] = std::byte{value};
  }
  // An unsigned integer of `width` bytes at `offset`, in the file's byte order.
  std::uint64_t read(std::size_t offset, std::size_t width) const {
    check(offset, width);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) {
      const std::size_t at = little_endian() ? offset + width - 1 - i : offset + i;
      v = (v << 8) | std::to_integer<std::uint64_t>(bytes_[at]);
    }
    return v;
  }
  void write(std::size_t offset, std::size_t width, std::uint64_t value) {
    check(offset, width);
    for (std::size_t i = 0; i < width; ++i) {
      const std::size_t at = little_endian() ? offset + i : offset + width - 1 - i;
      bytes_[at] = std::byte{static_cast<unsigned char>(value >> (8 * i))};
    }
  }
  void truncate(std::size_t size) {
    if (size > bytes_.size()) throw std::runtime_error("truncate: larger than the file");
    bytes_.resize(size);
  }

  std::uint64_t ehdr(ehdr_field f) const {
    const auto [offset, width] = ehdr_location(f);
    return read(offset, width);
  }
  void set_ehdr(ehdr_field f, std::uint64_t value) {
    const auto [offset, width] = ehdr_location(f);
    write(offset, width, value);
  }

  std::optional<section_ref> section(std::string_view name) const {
    return find([&](const section_ref& s) { return s.name == name; });
  }
  std::optional<section_ref> section_of_type(GElf_Word type) const {
    return find([&](const section_ref& s) { return s.header.sh_type == type; });
  }
  // Like section(), but a missing section throws.
  section_ref require_section(std::string_view name) const {
    auto s = section(name);
    if (!s) throw std::runtime_error("no section " + std::string(name));
    return *s;
  }

  void set_shdr(const section_ref& s, shdr_field f, std::uint64_t value) {
    const auto [offset, width] = shdr_location(f);
    write(s.header_offset + offset, width, value);
  }
  std::uint64_t shdr(const section_ref& s, shdr_field f) const {
    const auto [offset, width] = shdr_location(f);
    return read(s.header_offset + offset, width);
  }

  std::vector<verneed_ref> verneeds() const {
    std::vector<verneed_ref> out;
    with_elf([&](Elf* elf) {
      Elf_Scn* scn = nullptr;
      while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr sh{};
        if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_GNU_verneed) continue;
        GElf_Shdr strtab{};
        if (gelf_getshdr(elf_getscn(elf, sh.sh_link), &strtab) == nullptr) {
          throw std::runtime_error("verneeds: bad sh_link");
        }
        Elf_Data* data = elf_getdata(scn, nullptr);
        int offset = 0;
        for (std::size_t n = 0; n < sh.sh_info; ++n) {
          GElf_Verneed need{};
          if (gelf_getverneed(data, offset, &need) == nullptr) {
            throw std::runtime_error("verneeds: bad Verneed chain");
          }
          verneed_ref ref;
          ref.offset = static_cast<std::size_t>(sh.sh_offset) + static_cast<std::size_t>(offset);
          ref.file = c_string(static_cast<std::size_t>(strtab.sh_offset + need.vn_file));
          int aux_offset = offset + static_cast<int>(need.vn_aux);
          for (std::size_t a = 0; a < need.vn_cnt; ++a) {
            GElf_Vernaux aux{};
            if (gelf_getvernaux(data, aux_offset, &aux) == nullptr) {
              throw std::runtime_error("verneeds: bad Vernaux chain");
            }
            vernaux_ref r;
            r.offset = static_cast<std::size_t>(sh.sh_offset) + static_cast<std::size_t>(aux_offset);
            r.name_offset = static_cast<std::size_t>(strtab.sh_offset + aux.vna_name);
            r.version = c_string(r.name_offset);
            r.flags = aux.vna_flags;
            r.other = aux.vna_other;
            r.hash = aux.vna_hash;
            ref.aux.push_back(std::move(r));
            aux_offset += static_cast<int>(aux.vna_next);
          }
          out.push_back(std::move(ref));
          offset += static_cast<int>(need.vn_next);
        }
      }
    });
    return out;
  }

  std::vector<verdef_ref> verdefs() const {
    std::vector<verdef_ref> out;
    with_elf([&](Elf* elf) {
      Elf_Scn* scn = nullptr;
      while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr sh{};
        if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_GNU_verdef) continue;
        GElf_Shdr strtab{};
        if (gelf_getshdr(elf_getscn(elf, sh.sh_link), &strtab) == nullptr) {
          throw std::runtime_error("verdefs: bad sh_link");
        }
        Elf_Data* data = elf_getdata(scn, nullptr);
        int offset = 0;
        for (std::size_t n = 0; n < sh.sh_info; ++n) {
          GElf_Verdef def{};
          if (gelf_getverdef(data, offset, &def) == nullptr) {
            throw std::runtime_error("verdefs: bad Verdef chain");
          }
          verdef_ref ref;
          ref.offset = static_cast<std::size_t>(sh.sh_offset) + static_cast<std::size_t>(offset);
          ref.index = def.vd_ndx;
          int aux_offset = offset + static_cast<int>(def.vd_aux);
          for (std::size_t a = 0; a < def.vd_cnt; ++a) {
            GElf_Verdaux aux{};
            if (gelf_getverdaux(data, aux_offset, &aux) == nullptr) {
              throw std::runtime_error("verdefs: bad Verdaux chain");
            }
            ref.aux.push_back(static_cast<std::size_t>(sh.sh_offset) +
                              static_cast<std::size_t>(aux_offset));
            ref.names.push_back(c_string(static_cast<std::size_t>(strtab.sh_offset + aux.vda_name)));
            aux_offset += static_cast<int>(aux.vda_next);
          }
          out.push_back(std::move(ref));
          offset += static_cast<int>(def.vd_next);
        }
      }
    });
    return out;
  }

  // The file offset of the n-th entry with tag `tag` in .dynamic (d_tag first, d_val after).
  std::optional<std::size_t> dynamic_entry(std::int64_t tag, std::size_t n = 0) const {
    auto dyn = section_of_type(SHT_DYNAMIC);
    if (!dyn) return std::nullopt;
    const std::size_t entry = is64() ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
    const std::size_t word = entry / 2;
    for (std::size_t at = static_cast<std::size_t>(dyn->header.sh_offset);
         at + entry <= dyn->header.sh_offset + dyn->header.sh_size; at += entry) {
      if (static_cast<std::int64_t>(read(at, word)) == tag && n-- == 0) return at;
    }
    return std::nullopt;
  }
  // The offset of d_val in the entry that dynamic_entry() found.
  std::size_t dynamic_value_offset(std::size_t entry_offset) const {
    return entry_offset + (is64() ? 8 : 4);
  }

  // The NUL-terminated string at a file offset.
  std::string c_string(std::size_t offset) const {
    std::string s;
    for (std::size_t i = offset; i < bytes_.size() && bytes_[i] != std::byte{0}; ++i) {
      s += static_cast<char>(bytes_[i]);
    }
    return s;
  }

  std::filesystem::path write_to(const std::filesystem::path& file) const {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes_.data()), static_cast<std::streamsize>(bytes_.size()));
    if (!out) throw std::runtime_error("cannot write " + file.string());
    return file;
  }

 private:
  struct location {
    std::size_t offset;
    std::size_t width;
  };

#define LIVEMOD_ELF_FIELD(type, member) \
  location { offsetof(type, member), sizeof(type::member) }

  location ehdr_location(ehdr_field f) const {
    if (is64()) return ehdr_location_in<Elf64_Ehdr>(f);
    return ehdr_location_in<Elf32_Ehdr>(f);
  }
  template <class E>
  static location ehdr_location_in(ehdr_field f) {
    switch (f) {
      case ehdr_field::type: return LIVEMOD_ELF_FIELD(E, e_type);
      case ehdr_field::machine: return LIVEMOD_ELF_FIELD(E, e_machine);
      case ehdr_field::version: return LIVEMOD_ELF_FIELD(E, e_version);
      case ehdr_field::entry: return LIVEMOD_ELF_FIELD(E, e_entry);
      case ehdr_field::phoff: return LIVEMOD_ELF_FIELD(E, e_phoff);
      case ehdr_field::shoff: return LIVEMOD_ELF_FIELD(E, e_shoff);
      case ehdr_field::flags: return LIVEMOD_ELF_FIELD(E, e_flags);
      case ehdr_field::ehsize: return LIVEMOD_ELF_FIELD(E, e_ehsize);
      case ehdr_field::phentsize: return LIVEMOD_ELF_FIELD(E, e_phentsize);
      case ehdr_field::phnum: return LIVEMOD_ELF_FIELD(E, e_phnum);
      case ehdr_field::shentsize: return LIVEMOD_ELF_FIELD(E, e_shentsize);
      case ehdr_field::shnum: return LIVEMOD_ELF_FIELD(E, e_shnum);
      case ehdr_field::shstrndx: return LIVEMOD_ELF_FIELD(E, e_shstrndx);
    }
    throw std::runtime_error("unknown ehdr field");
  }

  location shdr_location(shdr_field f) const {
    if (is64()) return shdr_location_in<Elf64_Shdr>(f);
    return shdr_location_in<Elf32_Shdr>(f);
  }
  template <class S>
  static location shdr_location_in(shdr_field f) {
    switch (f) {
      case shdr_field::name: return LIVEMOD_ELF_FIELD(S, sh_name);
      case shdr_field::type: return LIVEMOD_ELF_FIELD(S, sh_type);
      case shdr_field::flags: return LIVEMOD_ELF_FIELD(S, sh_flags);
      case shdr_field::addr: return LIVEMOD_ELF_FIELD(S, sh_addr);
      case shdr_field::offset: return LIVEMOD_ELF_FIELD(S, sh_offset);
      case shdr_field::size: return LIVEMOD_ELF_FIELD(S, sh_size);
      case shdr_field::link: return LIVEMOD_ELF_FIELD(S, sh_link);
      case shdr_field::info: return LIVEMOD_ELF_FIELD(S, sh_info);
      case shdr_field::addralign: return LIVEMOD_ELF_FIELD(S, sh_addralign);
      case shdr_field::entsize: return LIVEMOD_ELF_FIELD(S, sh_entsize);
    }
    throw std::runtime_error("unknown shdr field");
  }
#undef LIVEMOD_ELF_FIELD

  void check(std::size_t offset, std::size_t width) const {
    if (offset > bytes_.size() || width > bytes_.size() - offset) {
      throw std::runtime_error("elf_bytes: offset " + std::to_string(offset) + " is outside the " +
                               std::to_string(bytes_.size()) + " bytes");
    }
  }

  // libelf over a scratch copy, so lookups never see (or disturb) half-made corruptions.
  template <class F>
  void with_elf(F&& f) const {
    std::vector<std::byte> copy = bytes_;
    Elf* elf = elf_memory(reinterpret_cast<char*>(copy.data()), copy.size());
    if (elf == nullptr) throw std::runtime_error(std::string("libelf: ") + elf_errmsg(-1));
    try {
      f(elf);
    } catch (...) {
      elf_end(elf);
      throw;
    }
    elf_end(elf);
  }

  template <class Pred>
  std::optional<section_ref> find(Pred&& pred) const {
    std::optional<section_ref> found;
    with_elf([&](Elf* elf) {
      std::size_t shstrndx = 0;
      if (elf_getshdrstrndx(elf, &shstrndx) != 0) throw std::runtime_error("libelf: no shstrndx");
      GElf_Ehdr eh{};
      if (gelf_getehdr(elf, &eh) == nullptr) throw std::runtime_error("libelf: no ehdr");
      Elf_Scn* scn = nullptr;
      while (!found && (scn = elf_nextscn(elf, scn)) != nullptr) {
        section_ref s;
        s.index = elf_ndxscn(scn);
        if (gelf_getshdr(scn, &s.header) == nullptr) continue;
        s.header_offset = static_cast<std::size_t>(eh.e_shoff + s.index * eh.e_shentsize);
        const char* name = elf_strptr(elf, shstrndx, s.header.sh_name);
        s.name = name != nullptr ? name : "";
        if (pred(s)) found = std::move(s);
      }
    });
    return found;
  }

  std::vector<std::byte> bytes_;
};

}  // namespace livemod::testing_support
