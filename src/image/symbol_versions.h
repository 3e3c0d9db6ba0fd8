// GNU symbol versioning: the versions an image needs from each library (.gnu.version_r,
// Verneed), the versions it defines (.gnu.version_d, Verdef), and the version index every
// dynamic symbol carries (.gnu.version, Versym). The chains are walked the way the loader walks
// them (vn_next / vd_next until 0), with every offset checked to stay in its section, every
// step to move forward, and the entry count to agree with sh_info, so a damaged chain ends in
// corrupt_elf rather than a loop or a read outside the section.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "image/elf_file.h"
#include "livemod/image.h"

namespace livemod::image_detail {

struct symbol_version_tables {
  std::vector<version_need> needs;      // in file order
  std::vector<std::string> defs;        // in file order, the base (file name) entry first
  // Version index (Versym & 0x7fff) -> name, for the indexes defined or needed (2 and up, and
  // the base definition's 1).
  std::unordered_map<std::uint16_t, std::string> names;
  // One entry per .dynsym entry when the image has .gnu.version, else empty.
  std::vector<std::uint16_t> versym;
};

// Errors: corrupt_elf (chains, counts, links, strings, a versym table of the wrong length).
result<symbol_version_tables> read_symbol_versions(const elf_file& elf);

}  // namespace livemod::image_detail
