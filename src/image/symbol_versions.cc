#include "image/symbol_versions.h"

#include <limits>
#include <string_view>

namespace livemod::image_detail {
namespace {

std::string dec(std::uint64_t v) { return std::to_string(v); }

// Where a chain entry may start: inside the section, with room for the structure, at the
// alignment libelf's accessors demand, and at an offset they can take (an int).
// `what()` names the entry; it is only called to build an error.
template <class What>
result<int> entry_offset(const elf_file& elf, const elf_section& section, Elf_Data* data,
                         std::uint64_t offset, std::size_t entry_size, What&& what) {
  if (offset > data->d_size || data->d_size - offset < entry_size) {
    return fail(elf.corrupt(what() + " at offset " + dec(offset) + " of " +
                            elf_file::describe(section) + " lies outside the section (" +
                            dec(data->d_size) + " bytes)"));
  }
  if (offset % 4 != 0) {
    return fail(elf.corrupt(what() + " at offset " + dec(offset) + " of " +
                            elf_file::describe(section) + " is not 4-byte aligned"));
  }
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    return fail(elf.corrupt(elf_file::describe(section) + " is too large to walk"));
  }
  return static_cast<int>(offset);
}

// The chains only move forward (their next fields are unsigned and 0 ends them), so an entry
// count above size / entry size means the chain revisits bytes: refuse it rather than loop.
result<void> check_count(const elf_file& elf, const elf_section& section, std::uint64_t walked,
                         std::uint64_t limit) {
  if (walked > limit) {
    return fail(elf.corrupt(elf_file::describe(section) + " has a chain of more than " +
                            dec(limit) + " entries, more than fit in the section"));
  }
  return {};
}

// The loader follows the next fields until 0 and readelf counts sh_info entries: a file where
// the two disagree reads differently in each, so it is refused.
error chain_length_error(const elf_file& elf, const std::string& where, const char* kind,
                         const char* next, std::uint64_t walked, std::uint64_t declared) {
  if (walked < declared) {
    return elf.corrupt(std::string("the ") + kind + " chain of " + where + " ends (" + next +
                       " is 0) after " + dec(walked) + " of the " + dec(declared) +
                       " entries sh_info declares");
  }
  return elf.corrupt(std::string("the ") + kind + " chain of " + where + " has " + dec(walked) +
                     " entries, but sh_info declares " + dec(declared));
}

result<void> read_verneed(const elf_file& elf, const elf_section& section,
                          symbol_version_tables& out) {
  auto strings = elf.linked_strings(section);
  if (!strings) return fail(strings.error());
  auto data_r = elf.data(section);
  if (!data_r) return fail(data_r.error());
  Elf_Data* data = *data_r;
  const std::uint64_t declared = section.header.sh_info;  // the number of Verneed entries
  const std::uint64_t limit = data->d_size / sizeof(Elf32_Verneed);
  const auto where = [&] { return elf_file::describe(section); };

  std::uint64_t offset = 0;
  std::uint64_t index = 0;
  for (; data->d_size != 0; ++index) {
    if (auto c = check_count(elf, section, index + 1, limit); !c) return fail(c.error());
    auto at = entry_offset(elf, section, data, offset, sizeof(Elf32_Verneed),
                           [&] { return "Verneed entry " + dec(index); });
    if (!at) return fail(at.error());
    GElf_Verneed need{};
    if (gelf_getverneed(data, *at, &need) == nullptr) {
      return fail(elf.corrupt("libelf cannot read Verneed entry " + dec(index) + " of " + where() +
                              ": " + elf_errmsg(-1)));
    }
    if (need.vn_version != VER_NEED_CURRENT) {
      return fail(elf.corrupt("Verneed entry " + dec(index) + " of " + where() + " has version " +
                              dec(need.vn_version) + ", not 1 (VER_NEED_CURRENT)"));
    }
    auto file = elf.string_at(**strings, need.vn_file,
                              [&] { return "the file name of Verneed entry " + dec(index); });
    if (!file) return fail(file.error());
    version_need entry;
    entry.file = std::string(*file);

    std::uint64_t aux_offset = offset + need.vn_aux;
    for (std::uint64_t a = 0; a < need.vn_cnt; ++a) {
      const auto what = [&] {
        return "Vernaux entry " + dec(a) + " of Verneed entry " + dec(index) + " (" + entry.file + ")";
      };
      auto aux_at = entry_offset(elf, section, data, aux_offset, sizeof(Elf32_Vernaux), what);
      if (!aux_at) return fail(aux_at.error());
      GElf_Vernaux aux{};
      if (gelf_getvernaux(data, *aux_at, &aux) == nullptr) {
        return fail(elf.corrupt("libelf cannot read " + what() + " of " + where() + ": " +
                                elf_errmsg(-1)));
      }
      auto name = elf.string_at(**strings, aux.vna_name, [&] { return "the version name of " + what(); });
      if (!name) return fail(name.error());
      entry.versions.emplace_back(*name);
      entry.weak.push_back((aux.vna_flags & VER_FLG_WEAK) != 0);
      const std::uint16_t version_index = aux.vna_other & 0x7fff;
      if (version_index >= 2) out.names.try_emplace(version_index, *name);
      if (a + 1 < need.vn_cnt) {
        if (aux.vna_next == 0) {
          return fail(elf.corrupt(what() + " of " + where() + " ends the chain (vna_next is 0) but " +
                                  "vn_cnt says " + dec(need.vn_cnt) + " entries"));
        }
        aux_offset += aux.vna_next;
      }
    }
    out.needs.push_back(std::move(entry));
    if (need.vn_next == 0) break;
    offset += need.vn_next;
  }
  const std::uint64_t walked = data->d_size == 0 ? 0 : index + 1;
  if (walked != declared) {
    return fail(chain_length_error(elf, where(), "Verneed", "vn_next", walked, declared));
  }
  return {};
}

result<void> read_verdef(const elf_file& elf, const elf_section& section,
                         symbol_version_tables& out) {
  auto strings = elf.linked_strings(section);
  if (!strings) return fail(strings.error());
  auto data_r = elf.data(section);
  if (!data_r) return fail(data_r.error());
  Elf_Data* data = *data_r;
  const std::uint64_t declared = section.header.sh_info;  // the number of Verdef entries
  const std::uint64_t limit = data->d_size / sizeof(Elf32_Verdef);
  const auto where = [&] { return elf_file::describe(section); };

  std::uint64_t offset = 0;
  std::uint64_t index = 0;
  for (; data->d_size != 0; ++index) {
    if (auto c = check_count(elf, section, index + 1, limit); !c) return fail(c.error());
    auto at = entry_offset(elf, section, data, offset, sizeof(Elf32_Verdef),
                           [&] { return "Verdef entry " + dec(index); });
    if (!at) return fail(at.error());
    GElf_Verdef def{};
    if (gelf_getverdef(data, *at, &def) == nullptr) {
      return fail(elf.corrupt("libelf cannot read Verdef entry " + dec(index) + " of " + where() +
                              ": " + elf_errmsg(-1)));
    }
    if (def.vd_version != VER_DEF_CURRENT) {
      return fail(elf.corrupt("Verdef entry " + dec(index) + " of " + where() + " has version " +
                              dec(def.vd_version) + ", not 1 (VER_DEF_CURRENT)"));
    }
    if (def.vd_cnt == 0) {
      return fail(elf.corrupt("Verdef entry " + dec(index) + " of " + where() +
                              " has no name (vd_cnt is 0)"));
    }
    // The first Verdaux is the version's own name; the others name its parents, which nothing
    // in livemod needs, but they are walked so a damaged chain is noticed.
    std::uint64_t aux_offset = offset + def.vd_aux;
    std::string name;
    for (std::uint64_t a = 0; a < def.vd_cnt; ++a) {
      const auto what = [&] { return "Verdaux entry " + dec(a) + " of Verdef entry " + dec(index); };
      auto aux_at = entry_offset(elf, section, data, aux_offset, sizeof(Elf32_Verdaux), what);
      if (!aux_at) return fail(aux_at.error());
      GElf_Verdaux aux{};
      if (gelf_getverdaux(data, *aux_at, &aux) == nullptr) {
        return fail(elf.corrupt("libelf cannot read " + what() + " of " + where() + ": " +
                                elf_errmsg(-1)));
      }
      auto s = elf.string_at(**strings, aux.vda_name, [&] { return "the version name of " + what(); });
      if (!s) return fail(s.error());
      if (a == 0) name = std::string(*s);
      if (a + 1 < def.vd_cnt) {
        if (aux.vda_next == 0) {
          return fail(elf.corrupt(what() + " of " + where() + " ends the chain (vda_next is 0) but " +
                                  "vd_cnt says " + dec(def.vd_cnt) + " entries"));
        }
        aux_offset += aux.vda_next;
      }
    }
    out.names.try_emplace(static_cast<std::uint16_t>(def.vd_ndx & 0x7fff), name);
    out.defs.push_back(std::move(name));
    if (def.vd_next == 0) break;
    offset += def.vd_next;
  }
  const std::uint64_t walked = data->d_size == 0 ? 0 : index + 1;
  if (walked != declared) {
    return fail(chain_length_error(elf, where(), "Verdef", "vd_next", walked, declared));
  }
  return {};
}

result<void> read_versym(const elf_file& elf, const elf_section& section,
                         symbol_version_tables& out) {
  auto count = elf.entry_count(section, ELF_T_HALF);
  if (!count) return fail(count.error());
  auto data = elf.data(section);
  if (!data) return fail(data.error());
  out.versym.resize(*count);
  for (std::size_t i = 0; i < *count; ++i) {
    GElf_Versym v = 0;
    if (gelf_getversym(*data, static_cast<int>(i), &v) == nullptr) {
      return fail(elf.corrupt("libelf cannot read entry " + dec(i) + " of " +
                              elf_file::describe(section) + ": " + elf_errmsg(-1)));
    }
    out.versym[i] = v;
  }
  return {};
}

}  // namespace

result<symbol_version_tables> read_symbol_versions(const elf_file& elf) {
  symbol_version_tables out;
  if (const elf_section* s = elf.find_section_of_type(SHT_GNU_verdef)) {
    if (auto r = read_verdef(elf, *s, out); !r) return fail(r.error());
  }
  if (const elf_section* s = elf.find_section_of_type(SHT_GNU_verneed)) {
    if (auto r = read_verneed(elf, *s, out); !r) return fail(r.error());
  }
  if (const elf_section* s = elf.find_section_of_type(SHT_GNU_versym)) {
    if (auto r = read_versym(elf, *s, out); !r) return fail(r.error());
  }
  return out;
}

}  // namespace livemod::image_detail
