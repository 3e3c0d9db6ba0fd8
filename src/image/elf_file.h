// The checked view over libelf that the rest of the image layer reads through, in the manner
// of LLVM's ELFFile: open() checks the ELF header, the program and section header tables,
// every section's [offset, offset + size) and every section name against the file before
// libelf is asked for anything; the accessors check what they hand out (entry sizes, links,
// string offsets). libelf does the byte-order and class translation.
//
//   result<elf_file> elf = elf_file::open(mapped.bytes(), "libcalc.so");
//   if (const elf_section* dyn = elf->find_section_of_type(SHT_DYNAMIC)) ...
//
// Which code for what: a structure that runs past the end of the file is `truncated` (the
// usual cause is a file still being written or a copy cut short, and from the bytes alone a
// cut file and an offset pointing too far look the same; the message names the field). A
// value no valid file has (a wrong entry size, a reserved number, an index or string offset
// outside its table, an arithmetic overflow) is `corrupt_elf`.
//
// Lifetime and threads: borrows the bytes, which must outlive it; move-only; one thread at a
// time (libelf caches translated sections inside the Elf handle).
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "livemod/error.h"
#include "livemod/image.h"

namespace livemod::image_detail {

struct elf_section {
  std::size_t index = 0;
  std::string_view name;  // points into the file's bytes; checked NUL-terminated in .shstrtab
  GElf_Shdr header{};     // translated to host byte order and widened to 64 bits
};

class elf_file {
 public:
  // Errors: empty_file, not_elf, truncated, corrupt_elf, not_shared_object (see above).
  // `file` names the file in messages.
  static result<elf_file> open(std::span<const std::byte> bytes, std::string file);

  elf_file(elf_file&& other) noexcept;
  elf_file& operator=(elf_file&& other) noexcept;
  elf_file(const elf_file&) = delete;
  elf_file& operator=(const elf_file&) = delete;
  ~elf_file();

  const std::string& file() const noexcept { return file_; }
  elf_class cls() const noexcept { return cls_; }
  bool little_endian() const noexcept { return little_endian_; }
  const GElf_Ehdr& header() const noexcept { return ehdr_; }
  const std::vector<elf_section>& sections() const noexcept { return sections_; }

  // The first section with that name or type, or nullptr.
  const elf_section* find_section(std::string_view name) const noexcept;
  const elf_section* find_section_of_type(GElf_Word type) const noexcept;

  // The section's bytes as stored in the file (range checked by open); empty for SHT_NOBITS.
  std::span<const std::byte> raw_bytes(const elf_section& section) const noexcept;

  // The number of `type` entries in a table section: checks sh_entsize (0 is taken to mean
  // "not stated") and that sh_size is a whole number of entries. corrupt_elf otherwise.
  result<std::size_t> entry_count(const elf_section& section, Elf_Type type) const;

  // libelf's translated contents of the section. corrupt_elf when libelf refuses.
  result<Elf_Data*> data(const elf_section& section) const;

  // The string table the section's sh_link names, checked to exist and be SHT_STRTAB.
  result<const elf_section*> linked_strings(const elf_section& section) const;

  // The NUL-terminated string at `offset` in `strtab`, or nullopt when it is outside the
  // section or runs to its end without a NUL.
  std::optional<std::string_view> find_string(const elf_section& strtab,
                                              std::uint64_t offset) const noexcept;
  // The same, checked: corrupt_elf when find_string finds nothing. `what()` says whose string
  // it is ("the name of symbol 12"); it is called only to build the error, so the hot path
  // (one call per symbol) allocates nothing.
  template <class What>
  result<std::string_view> string_at(const elf_section& strtab, std::uint64_t offset,
                                     What&& what) const {
    if (auto s = find_string(strtab, offset)) return *s;
    return fail(bad_string(strtab, offset, std::string(what())));
  }
  error bad_string(const elf_section& strtab, std::uint64_t offset, const std::string& what) const;

  // Errors about this file with the layer's standard remedies.
  error corrupt(std::string cause) const;
  error truncated(std::string cause) const;

  // "section 7 (.dynstr)", for messages.
  static std::string describe(const elf_section& section);

 private:
  elf_file() = default;
  result<void> check_sections();

  std::span<const std::byte> bytes_;
  std::string file_;
  Elf* elf_ = nullptr;
  elf_class cls_ = elf_class::elf64;
  bool little_endian_ = true;
  GElf_Ehdr ehdr_{};
  std::vector<elf_section> sections_;
};

}  // namespace livemod::image_detail
