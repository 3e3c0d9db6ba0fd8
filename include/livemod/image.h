// File: livemod/image.h
//
// Reading a shared object as data: its ELF facts and its livemod manifest, without loading it
// and without running any of its code. The file is mapped read-only and read through libelf;
// every offset and size is checked against the file before it is used, so a truncated or
// corrupted file gives a specific error, never a crash. Cost grows with the parts read (headers,
// dynamic section, dynamic symbol table, version sections, manifest), not with the file size.
//
//   livemod::result<livemod::image_info> img = livemod::read_image("build/libcalc.so");
//   if (!img) return fail(img.error());
//   for (const auto& lib : img->needed) std::cout << "needs " << lib << "\n";
//   if (img->manifest_json) std::cout << *img->manifest_json << "\n";
//
// Lifetime and threads: read_image and read_image_shared are reentrant; image_info is a plain
// value that owns all its strings (the mapping is released before read_image returns), and
// the images read_image_shared hands out are immutable and shared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "livemod/error.h"
#include "livemod/library.h"

namespace livemod {

enum class elf_class : std::uint8_t { elf32 = 1, elf64 = 2 };

// One entry of the dynamic symbol table (.dynsym), with its GNU symbol version.
struct elf_symbol {
  std::string name;
  std::string version;       // "GLIBC_2.34", or "" when unversioned / local / global base
  bool version_hidden = false;  // defined as name@VER (not the default name@@VER)
  bool defined = false;      // st_shndx != SHN_UNDEF
  std::uint8_t binding = 0;  // STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE (10)
  std::uint8_t type = 0;     // STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_TLS, STT_GNU_IFUNC ...
  std::uint64_t value = 0;
  std::uint64_t size = 0;
};

// One Verneed entry: a library this image needs versions from (readelf -V ".gnu.version_r").
struct version_need {
  std::string file;                   // "libc.so.6"
  std::vector<std::string> versions;  // "GLIBC_2.2.5", "GLIBC_2.34", in file order
  std::vector<bool> weak;             // VER_FLG_WEAK per version, same order
};

// Why an image would stay in memory after dlclose, as glibc decides it:
//   gnu_unique_symbol  a defined STB_GNU_UNIQUE symbol (g++ without -fno-gnu-unique, inline
//                      and template statics); detail is its name.
//   tls_symbol         the image registers thread_local destructors (it references
//                      __cxa_thread_atexit or __cxa_thread_atexit_impl), and glibc keeps it
//                      while a thread owes one; detail is the function referenced. A defined
//                      STT_TLS symbol alone does not pin, and is not reported.
//   nodelete_flag      DF_1_NODELETE (-z nodelete); detail is "DF_1_NODELETE".
struct image_pin {
  enum class reason : std::uint8_t { gnu_unique_symbol, tls_symbol, nodelete_flag };
  reason why;
  std::string detail;
};

struct image_info {
  std::filesystem::path path;
  std::uint64_t file_size = 0;
  elf_class cls = elf_class::elf64;
  bool little_endian = true;
  std::uint16_t machine = 0;   // e_machine: EM_X86_64 (62), EM_AARCH64 (183), EM_386 (3) ...
  std::string machine_name;    // "x86_64", "aarch64", "i386", or "machine 1234"
  std::uint8_t os_abi = 0;     // EI_OSABI
  std::uint16_t type = 0;      // e_type: ET_DYN (3), ET_EXEC (2) ...
  std::string soname;          // DT_SONAME, "" if none
  std::vector<std::string> needed;   // DT_NEEDED, in order
  // DT_RPATH / DT_RUNPATH split at ':', $ORIGIN kept verbatim. Empty components are kept
  // ("a::b" gives "a", "", "b"): the loader searches the current directory for them.
  std::vector<std::string> rpath;
  std::vector<std::string> runpath;
  std::uint64_t flags = 0;     // DT_FLAGS
  std::uint64_t flags_1 = 0;   // DT_FLAGS_1 (DF_1_NODELETE, DF_1_NOOPEN ...)
  std::vector<version_need> version_needs;   // .gnu.version_r
  std::vector<std::string> version_defs;     // .gnu.version_d names, the base (file) entry first
  std::vector<elf_symbol> symbols;           // .dynsym without the null entry, in table order
  std::vector<image_pin> pins;               // reasons dlclose could not unmap it
  std::optional<std::string> manifest_json;  // the .livemod.manifest section, up to its NUL
  std::string comment;         // .comment (the compilers that built it), "" if none

  bool is_pinned() const { return !pins.empty(); }
};

// Reads `path` as an ELF shared object (ET_DYN; executables that are PIE are ET_DYN too, and
// ET_EXEC is accepted so that a host that is not PIE can be read as well). 32- and 64-bit, either
// byte order. Errors:
//   file_not_found, permission_denied, not_a_regular_file, io_error  (opening and mapping;
//                                                                     io_error also for OOM)
//   empty_file, not_elf, truncated, corrupt_elf                      (the bytes)
//   not_shared_object                                                 (ET_REL, ET_CORE ...)
// truncated: a header, table or section runs past the end of the file (a cut file and an offset
// pointing too far look the same; the usual cause is a file still being written, so a caller
// may wait and retry). corrupt_elf: a value no valid file has (a wrong entry size, an index or
// string offset outside its table, a version chain that disagrees with its count).
result<image_info> read_image(const std::filesystem::path& path);

// read_image through a per-process cache: a file read before is not read again while it is
// unchanged. The cache is keyed by the file's state (path, device, inode, size, mtime to the
// nanosecond), so a file rebuilt or replaced at the same path is read afresh, and the entry
// of its previous version is dropped. Used wherever one file is read several times in one
// load: resolve reads a module for its manifest, the preflight reads it again for its ELF
// facts, and every module's check reads the same libc. Bounded (a few thousand files); a
// read that fails is not kept, nor one whose file changed while it was read. Thread-safe.
// Errors: those of read_image.
result<std::shared_ptr<const image_info>> read_image_shared(const std::filesystem::path& path);
// The same for a file the caller has just identified (identify_file): `version` stands for
// the stat read_image_shared would make, so a load that stats each module once while it
// searches for it does not stat it again here.
result<std::shared_ptr<const image_info>> read_image_shared(const std::filesystem::path& path,
                                                           const file_identity& version);

// The short name of an e_machine value, as uname -m and Debian spell it ("x86_64" for
// EM_X86_64, "aarch64", "i386", "arm", "riscv" ...); "machine N" for others.
std::string machine_name(std::uint16_t machine);

}  // namespace livemod
