// The dynamic section (.dynamic): what the loader reads to link the image. SONAME, NEEDED in
// file order, RPATH and RUNPATH split at ':' (empty components kept: the loader reads them as
// the current directory, which callers that judge search paths must see), FLAGS and FLAGS_1.
#pragma once

#include "image/elf_file.h"
#include "livemod/image.h"

namespace livemod::image_detail {

// Fills soname, needed, rpath, runpath, flags and flags_1 of `out`; leaves them empty when the
// file has no SHT_DYNAMIC section. Errors: corrupt_elf (entry size, string table link, a string
// offset outside .dynstr).
result<void> read_dynamic_section(const elf_file& elf, image_info& out);

// "a:b::c" -> {"a", "b", "", "c"}; "" -> {""}.
std::vector<std::string> split_search_path(std::string_view list);

}  // namespace livemod::image_detail
