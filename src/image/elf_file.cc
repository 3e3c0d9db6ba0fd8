#include "image/elf_file.h"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

namespace livemod::image_detail {
namespace {

constexpr const char* truncated_remedy =
    "if it is still being written wait for it to finish, else rebuild or copy it again";
constexpr const char* corrupt_remedy = "rebuild the file or copy it again";

// libelf refuses to work until the version is set; a function-local static makes the one call
// thread-safe without a global constructor.
bool libelf_ready() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

std::string dec(std::uint64_t v) { return std::to_string(v); }

std::string hex(std::uint64_t v) {
  std::array<char, 24> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%" PRIx64, v);
  return buf.data();
}

const char* class_name(elf_class cls) { return cls == elf_class::elf32 ? "ELFCLASS32" : "ELFCLASS64"; }

// The ELF header fields needed before libelf may be trusted with the file, class-independent.
struct header_fields {
  std::uint16_t type = 0;
  std::uint32_t version = 0;
  std::uint64_t phoff = 0;
  std::uint64_t shoff = 0;
  std::uint16_t phentsize = 0;
  std::uint16_t phnum = 0;
  std::uint16_t shentsize = 0;
  std::uint16_t shnum = 0;
  std::uint16_t shstrndx = 0;
};

template <class Ehdr>
header_fields fields_of(const Ehdr& e) {
  return {e.e_type,     e.e_version,   e.e_phoff, e.e_shoff,  e.e_phentsize,
          e.e_phnum,    e.e_shentsize, e.e_shnum, e.e_shstrndx};
}

// The fields of section header 0 that extended numbering moves out of the ELF header.
struct section_zero {
  std::uint64_t size = 0;  // the section count when e_shnum is 0
  std::uint32_t link = 0;  // the name table index when e_shstrndx is SHN_XINDEX
  std::uint32_t info = 0;  // the program header count when e_phnum is PN_XNUM
};

// Translates one structure from the file's representation with libelf's own converters. The
// source is copied first: the file offset need not be aligned for the structure.
template <class T>
bool translate(std::span<const std::byte> bytes, std::uint64_t offset, Elf_Type type,
               elf_class cls, unsigned encoding, T& out) {
  alignas(8) std::array<std::byte, sizeof(T)> raw{};
  std::memcpy(raw.data(), bytes.data() + offset, sizeof(T));
  Elf_Data src{};
  src.d_buf = raw.data();
  src.d_type = type;
  src.d_size = sizeof(T);
  src.d_version = EV_CURRENT;
  Elf_Data dst = src;
  dst.d_buf = &out;
  return (cls == elf_class::elf32 ? elf32_xlatetom(&dst, &src, encoding)
                                  : elf64_xlatetom(&dst, &src, encoding)) != nullptr;
}

std::string type_description(std::uint16_t type) {
  switch (type) {
    case ET_NONE: return "has no file type (e_type is ET_NONE)";
    case ET_REL: return "is a relocatable object file (ET_REL), not a shared object";
    case ET_CORE: return "is a core dump (ET_CORE), not a shared object";
    default: return "has file type " + dec(type) + " (e_type), not a shared object (ET_DYN)";
  }
}

}  // namespace

std::string elf_file::describe(const elf_section& section) {
  if (section.name.empty()) return "section " + dec(section.index);
  return "section " + dec(section.index) + " (" + std::string(section.name) + ")";
}

error elf_file::corrupt(std::string cause) const {
  return error(errc::corrupt_elf, file_, std::move(cause), corrupt_remedy);
}

error elf_file::truncated(std::string cause) const {
  return error(errc::truncated, file_, std::move(cause), truncated_remedy);
}

result<elf_file> elf_file::open(std::span<const std::byte> bytes, std::string file) {
  const std::uint64_t size = bytes.size();
  if (size == 0) {
    return fail(errc::empty_file, std::move(file), "the file is empty (0 bytes)",
                "wait until it is fully written, or rebuild it");
  }
  if (size < SELFMAG || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
    std::string start;
    for (std::size_t i = 0; i < bytes.size() && i < SELFMAG; ++i) {
      std::array<char, 4> b{};
      std::snprintf(b.data(), b.size(), "%02x", std::to_integer<unsigned>(bytes[i]));
      if (i != 0) start += ' ';
      start += b.data();
    }
    return fail(errc::not_elf, std::move(file),
                "not an ELF file: it starts with " + start + ", not 7f 45 4c 46 (\\x7fELF)",
                "give the path of a compiled shared library (a linker script such as libc.so "
                "is text and names the real file)");
  }

  elf_file f;
  f.bytes_ = bytes;
  f.file_ = std::move(file);
  if (size < EI_NIDENT) {
    return fail(f.truncated("the file has " + dec(size) + " bytes, fewer than the " +
                            dec(EI_NIDENT) + " of the ELF identification"));
  }
  const auto ident = [&](int i) { return std::to_integer<unsigned>(bytes[static_cast<std::size_t>(i)]); };
  if (ident(EI_CLASS) != ELFCLASS32 && ident(EI_CLASS) != ELFCLASS64) {
    return fail(f.corrupt("EI_CLASS is " + dec(ident(EI_CLASS)) +
                          ", neither 1 (ELFCLASS32) nor 2 (ELFCLASS64)"));
  }
  if (ident(EI_DATA) != ELFDATA2LSB && ident(EI_DATA) != ELFDATA2MSB) {
    return fail(f.corrupt("EI_DATA is " + dec(ident(EI_DATA)) +
                          ", neither 1 (little-endian) nor 2 (big-endian)"));
  }
  if (ident(EI_VERSION) != EV_CURRENT) {
    return fail(f.corrupt("EI_VERSION is " + dec(ident(EI_VERSION)) + ", not 1 (EV_CURRENT)"));
  }
  f.cls_ = ident(EI_CLASS) == ELFCLASS32 ? elf_class::elf32 : elf_class::elf64;
  f.little_endian_ = ident(EI_DATA) == ELFDATA2LSB;
  const unsigned encoding = ident(EI_DATA);
  const bool is32 = f.cls_ == elf_class::elf32;
  const char* cls_name = class_name(f.cls_);

  if (!libelf_ready()) {
    return fail(errc::io_error, f.file_, "libelf cannot be initialised (elf_version failed)",
                "reinstall libelf");
  }

  // The ELF header, translated by libelf but read before libelf sees the whole file, so that
  // a bad table offset gets a message that names it.
  const std::uint64_t ehdr_size = is32 ? sizeof(Elf32_Ehdr) : sizeof(Elf64_Ehdr);
  if (size < ehdr_size) {
    return fail(f.truncated("the " + std::string(cls_name) + " header needs " + dec(ehdr_size) +
                            " bytes but the file has " + dec(size)));
  }
  header_fields h;
  bool ok = false;
  if (is32) {
    Elf32_Ehdr e{};
    ok = translate(bytes, 0, ELF_T_EHDR, f.cls_, encoding, e);
    h = fields_of(e);
  } else {
    Elf64_Ehdr e{};
    ok = translate(bytes, 0, ELF_T_EHDR, f.cls_, encoding, e);
    h = fields_of(e);
  }
  if (!ok) return fail(f.corrupt(std::string("libelf cannot read the ELF header: ") + elf_errmsg(-1)));
  if (h.version != EV_CURRENT) {
    return fail(f.corrupt("e_version is " + dec(h.version) + ", not 1 (EV_CURRENT)"));
  }
  // ET_EXEC is accepted as well: a host that is not PIE is read like a library.
  if (h.type != ET_DYN && h.type != ET_EXEC) {
    return fail(errc::not_shared_object, f.file_, type_description(h.type),
                h.type == ET_REL ? "link it into a shared library with -shared"
                                 : "give the path of a shared library");
  }

  const std::uint64_t phentsize = is32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr);
  const auto check_program_headers = [&](std::uint64_t phnum) -> result<void> {
    if (phnum == 0) return {};
    if (h.phentsize != phentsize) {
      return fail(f.corrupt("e_phentsize is " + dec(h.phentsize) + ", but an " + cls_name +
                            " program header has " + dec(phentsize) + " bytes"));
    }
    if (h.phoff >= size || phnum > (size - h.phoff) / phentsize) {
      if (phnum > (std::numeric_limits<std::uint64_t>::max() - h.phoff) / phentsize) {
        return fail(f.corrupt("the program header table (e_phoff " + dec(h.phoff) + ", " +
                              dec(phnum) + " entries) overflows 64 bits"));
      }
      return fail(f.truncated("the program header table (e_phoff " + dec(h.phoff) + ", " +
                              dec(phnum) + " entries of " + dec(phentsize) +
                              " bytes) ends at byte " + dec(h.phoff + phnum * phentsize) +
                              " but the file has " + dec(size) + " bytes"));
    }
    return {};
  };
  // With PN_XNUM the count lives in section 0, which is checked below first.
  if (h.phnum != PN_XNUM) {
    if (auto r = check_program_headers(h.phnum); !r) return fail(r.error());
  }

  // The section header table: livemod finds everything it reads through it.
  const std::uint64_t shentsize = is32 ? sizeof(Elf32_Shdr) : sizeof(Elf64_Shdr);
  if (h.shoff == 0) {
    return fail(errc::corrupt_elf, f.file_, "the file has no section header table (e_shoff is 0)",
                "livemod reads the dynamic section through the section headers; rebuild the "
                "file without removing them (sstrip and similar tools do)");
  }
  if (h.shentsize != shentsize) {
    return fail(f.corrupt("e_shentsize is " + dec(h.shentsize) + ", but an " + cls_name +
                          " section header has " + dec(shentsize) + " bytes"));
  }
  if (h.shnum >= SHN_LORESERVE) {
    return fail(f.corrupt("e_shnum is " + dec(h.shnum) + ", in the reserved range from " +
                          hex(SHN_LORESERVE) +
                          " (a file with that many sections stores 0 and the count in section 0)"));
  }
  if (h.shoff >= size || size - h.shoff < shentsize) {
    return fail(f.truncated("the section header table starts at byte " + dec(h.shoff) +
                            " (e_shoff) but the file has " + dec(size) + " bytes"));
  }
  section_zero zero;
  if (is32) {
    Elf32_Shdr s{};
    ok = translate(bytes, h.shoff, ELF_T_SHDR, f.cls_, encoding, s);
    zero = {s.sh_size, s.sh_link, s.sh_info};
  } else {
    Elf64_Shdr s{};
    ok = translate(bytes, h.shoff, ELF_T_SHDR, f.cls_, encoding, s);
    zero = {s.sh_size, s.sh_link, s.sh_info};
  }
  if (!ok) return fail(f.corrupt(std::string("libelf cannot read section header 0: ") + elf_errmsg(-1)));
  const std::uint64_t shnum = h.shnum != 0 ? h.shnum : zero.size;
  if (shnum == 0) {
    return fail(f.corrupt("the section header table has no entries (e_shnum and the sh_size of "
                          "section 0 are both 0)"));
  }
  if (shnum > (size - h.shoff) / shentsize) {
    if (shnum > (std::numeric_limits<std::uint64_t>::max() - h.shoff) / shentsize) {
      return fail(f.corrupt("the section header table (e_shoff " + dec(h.shoff) + ", " +
                            dec(shnum) + " entries) overflows 64 bits"));
    }
    return fail(f.truncated("the section header table (e_shoff " + dec(h.shoff) + ", " +
                            dec(shnum) + " entries of " + dec(shentsize) +
                            " bytes) ends at byte " + dec(h.shoff + shnum * shentsize) +
                            " but the file has " + dec(size) + " bytes"));
  }
  if (h.phnum == PN_XNUM) {
    if (auto r = check_program_headers(zero.info); !r) return fail(r.error());
  }
  const std::uint64_t shstrndx = h.shstrndx == SHN_XINDEX ? zero.link : h.shstrndx;
  if (shstrndx == SHN_UNDEF) {
    return fail(f.corrupt("the file has no section name table (e_shstrndx is 0)"));
  }
  if (shstrndx >= shnum) {
    return fail(f.corrupt("e_shstrndx is " + dec(shstrndx) + " but the file has only " +
                          dec(shnum) + " sections"));
  }

  // The headers libelf relies on are sound; from here on libelf parses. elf_memory takes a
  // non-const pointer because an Elf opened for update may write through it; one opened from
  // memory is read-only unless elf_update is called, which livemod never does.
  f.elf_ = elf_memory(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())), bytes.size());
  if (f.elf_ == nullptr || elf_kind(f.elf_) != ELF_K_ELF) {
    return fail(f.corrupt(std::string("libelf cannot read the file: ") + elf_errmsg(-1)));
  }
  if (gelf_getehdr(f.elf_, &f.ehdr_) == nullptr) {
    return fail(f.corrupt(std::string("libelf cannot read the ELF header: ") + elf_errmsg(-1)));
  }
  f.sections_.resize(shnum);
  for (std::size_t i = 0; i < shnum; ++i) {
    f.sections_[i].index = i;
    Elf_Scn* scn = elf_getscn(f.elf_, i);
    if (scn == nullptr || gelf_getshdr(scn, &f.sections_[i].header) == nullptr) {
      return fail(f.corrupt("libelf cannot read section header " + dec(i) + ": " + elf_errmsg(-1)));
    }
  }
  if (auto r = f.check_sections(); !r) return fail(r.error());
  return f;
}

// Ranges first for the name table, then the names, then every range, so each message can name
// the section it is about.
result<void> elf_file::check_sections() {
  const std::uint64_t size = bytes_.size();
  const auto check_range = [&](const elf_section& s) -> result<void> {
    const GElf_Shdr& sh = s.header;
    if (sh.sh_type == SHT_NOBITS || sh.sh_type == SHT_NULL || sh.sh_size == 0) return {};
    if (sh.sh_offset <= size && sh.sh_size <= size - sh.sh_offset) return {};
    if (sh.sh_size > std::numeric_limits<std::uint64_t>::max() - sh.sh_offset) {
      return fail(corrupt(describe(s) + " has sh_offset " + dec(sh.sh_offset) + " and sh_size " +
                          dec(sh.sh_size) + ", which overflow 64 bits"));
    }
    return fail(truncated(describe(s) + " covers bytes [" + dec(sh.sh_offset) + ", " +
                          dec(sh.sh_offset + sh.sh_size) + ") but the file has " + dec(size) +
                          " bytes"));
  };

  const std::size_t shstrndx = ehdr_.e_shstrndx == SHN_XINDEX ? sections_[0].header.sh_link
                                                              : ehdr_.e_shstrndx;
  const elf_section& names = sections_[shstrndx];
  if (names.header.sh_type != SHT_STRTAB) {
    return fail(corrupt("the section name table, " + describe(names) + " (e_shstrndx), has type " +
                        dec(names.header.sh_type) + ", not SHT_STRTAB (3)"));
  }
  if (auto r = check_range(names); !r) return r;
  for (elf_section& s : sections_) {
    auto name = string_at(names, s.header.sh_name, [&] { return "the name of " + describe(s); });
    if (!name) return fail(name.error());
    s.name = *name;
  }
  for (const elf_section& s : sections_) {
    if (auto r = check_range(s); !r) return r;
  }
  return {};
}

elf_file::elf_file(elf_file&& other) noexcept
    : bytes_(other.bytes_),
      file_(std::move(other.file_)),
      elf_(std::exchange(other.elf_, nullptr)),
      cls_(other.cls_),
      little_endian_(other.little_endian_),
      ehdr_(other.ehdr_),
      sections_(std::move(other.sections_)) {}

elf_file& elf_file::operator=(elf_file&& other) noexcept {
  if (this != &other) {
    if (elf_ != nullptr) elf_end(elf_);
    bytes_ = other.bytes_;
    file_ = std::move(other.file_);
    elf_ = std::exchange(other.elf_, nullptr);
    cls_ = other.cls_;
    little_endian_ = other.little_endian_;
    ehdr_ = other.ehdr_;
    sections_ = std::move(other.sections_);
  }
  return *this;
}

elf_file::~elf_file() {
  if (elf_ != nullptr) elf_end(elf_);
}

const elf_section* elf_file::find_section(std::string_view name) const noexcept {
  for (const elf_section& s : sections_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const elf_section* elf_file::find_section_of_type(GElf_Word type) const noexcept {
  for (const elf_section& s : sections_) {
    if (s.header.sh_type == type) return &s;
  }
  return nullptr;
}

std::span<const std::byte> elf_file::raw_bytes(const elf_section& section) const noexcept {
  const GElf_Shdr& sh = section.header;
  if (sh.sh_type == SHT_NOBITS || sh.sh_type == SHT_NULL) return {};
  return bytes_.subspan(static_cast<std::size_t>(sh.sh_offset), static_cast<std::size_t>(sh.sh_size));
}

result<std::size_t> elf_file::entry_count(const elf_section& section, Elf_Type type) const {
  const GElf_Shdr& sh = section.header;
  const std::size_t entry = gelf_fsize(elf_, type, 1, EV_CURRENT);
  if (sh.sh_type == SHT_NOBITS) {
    return fail(corrupt(describe(section) + " is SHT_NOBITS: its table is not in the file"));
  }
  if (sh.sh_entsize != 0 && sh.sh_entsize != entry) {
    return fail(corrupt(describe(section) + " has sh_entsize " + dec(sh.sh_entsize) +
                        ", but its " + class_name(cls_) + " entries have " + dec(entry) + " bytes"));
  }
  if (sh.sh_size % entry != 0) {
    return fail(corrupt(describe(section) + " has " + dec(sh.sh_size) +
                        " bytes, not a whole number of " + dec(entry) + "-byte entries"));
  }
  const std::uint64_t count = sh.sh_size / entry;
  // libelf's accessors index with int.
  if (count > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    return fail(corrupt(describe(section) + " claims " + dec(count) + " entries"));
  }
  return static_cast<std::size_t>(count);
}

result<Elf_Data*> elf_file::data(const elf_section& section) const {
  Elf_Scn* scn = elf_getscn(elf_, section.index);
  Elf_Data* d = scn == nullptr ? nullptr : elf_getdata(scn, nullptr);
  if (d == nullptr) {
    return fail(corrupt("libelf cannot read " + describe(section) + ": " + elf_errmsg(-1)));
  }
  return d;
}

result<const elf_section*> elf_file::linked_strings(const elf_section& section) const {
  const std::uint64_t link = section.header.sh_link;
  if (link == SHN_UNDEF || link >= sections_.size()) {
    return fail(corrupt(describe(section) + " names section " + dec(link) +
                        " as its string table (sh_link), but the file has sections 1 to " +
                        dec(sections_.size() - 1)));
  }
  const elf_section& target = sections_[static_cast<std::size_t>(link)];
  if (target.header.sh_type != SHT_STRTAB) {
    return fail(corrupt(describe(section) + " names " + describe(target) +
                        " as its string table (sh_link), but that section has type " +
                        dec(target.header.sh_type) + ", not SHT_STRTAB (3)"));
  }
  return &target;
}

std::optional<std::string_view> elf_file::find_string(const elf_section& strtab,
                                                      std::uint64_t offset) const noexcept {
  const std::span<const std::byte> raw = raw_bytes(strtab);
  if (offset >= raw.size()) return std::nullopt;
  const auto* begin = reinterpret_cast<const char*>(raw.data()) + offset;
  const auto* end = static_cast<const char*>(std::memchr(begin, '\0', raw.size() - offset));
  if (end == nullptr) return std::nullopt;
  return std::string_view(begin, static_cast<std::size_t>(end - begin));
}

error elf_file::bad_string(const elf_section& strtab, std::uint64_t offset,
                           const std::string& what) const {
  const std::size_t size = raw_bytes(strtab).size();
  if (offset >= size) {
    return corrupt(what + " is at offset " + dec(offset) + " of " + describe(strtab) +
                   ", which has " + dec(size) + " bytes");
  }
  return corrupt(what + " at offset " + dec(offset) + " of " + describe(strtab) +
                 " runs to the end of the section without a NUL");
}

}  // namespace livemod::image_detail
