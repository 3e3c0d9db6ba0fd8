// The dynamic symbol table (.dynsym): every symbol the image exports or imports, with its GNU
// version, and the reasons the table gives for dlclose to leave the image mapped (pins).
#pragma once

#include <cstdint>
#include <vector>

#include "image/elf_file.h"
#include "image/symbol_versions.h"
#include "livemod/image.h"

namespace livemod::image_detail {

// The symbols of the first SHT_DYNSYM section without its null entry, in table order; empty
// when there is none. Errors: corrupt_elf (entry size, string table link, a name outside
// .dynstr, a .gnu.version of another length, a version index nothing defines).
result<std::vector<elf_symbol>> read_dynamic_symbols(const elf_file& elf,
                                                     const symbol_version_tables& versions);

// Why dlclose would not unmap the image, as glibc decides it (elf/dl-close.c, dl-lookup.c):
//   - a defined STB_GNU_UNIQUE symbol: the first lookup of one marks its object NODELETE;
//   - TLS destructors: registering one (__cxa_thread_atexit, which g++ calls for a
//     thread_local object with a destructor) counts the object in l_tls_dtor_count, and it is
//     not unloaded while a thread still owes that destructor. An exported thread_local without
//     a destructor does not pin, and one with hidden visibility is not in .dynsym at all, so
//     the reference to the registration function is the signal, not STT_TLS symbols;
//   - DF_1_NODELETE (linked with -z nodelete).
std::vector<image_pin> find_pins(const std::vector<elf_symbol>& symbols, std::uint64_t flags_1);

}  // namespace livemod::image_detail
