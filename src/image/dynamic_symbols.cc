#include "image/dynamic_symbols.h"

#include <string>

namespace livemod::image_detail {

result<std::vector<elf_symbol>> read_dynamic_symbols(const elf_file& elf,
                                                     const symbol_version_tables& versions) {
  std::vector<elf_symbol> symbols;
  const elf_section* dynsym = elf.find_section_of_type(SHT_DYNSYM);
  if (dynsym == nullptr) return symbols;
  auto count = elf.entry_count(*dynsym, ELF_T_SYM);
  if (!count) return fail(count.error());
  auto strings = elf.linked_strings(*dynsym);
  if (!strings) return fail(strings.error());
  auto data = elf.data(*dynsym);
  if (!data) return fail(data.error());
  if (!versions.versym.empty() && versions.versym.size() != *count) {
    return fail(elf.corrupt("the symbol version table (.gnu.version) has " +
                            std::to_string(versions.versym.size()) + " entries but " +
                            elf_file::describe(*dynsym) + " has " + std::to_string(*count) +
                            " symbols"));
  }

  symbols.reserve(*count == 0 ? 0 : *count - 1);
  for (std::size_t i = 1; i < *count; ++i) {
    GElf_Sym sym{};
    if (gelf_getsym(*data, static_cast<int>(i), &sym) == nullptr) {
      return fail(elf.corrupt("libelf cannot read symbol " + std::to_string(i) + " of " +
                              elf_file::describe(*dynsym) + ": " + elf_errmsg(-1)));
    }
    auto name = elf.string_at(**strings, sym.st_name,
                              [&] { return "the name of symbol " + std::to_string(i); });
    if (!name) return fail(name.error());
    elf_symbol out;
    out.name = std::string(*name);
    out.defined = sym.st_shndx != SHN_UNDEF;
    out.binding = static_cast<std::uint8_t>(GELF_ST_BIND(sym.st_info));
    out.type = static_cast<std::uint8_t>(GELF_ST_TYPE(sym.st_info));
    out.value = sym.st_value;
    out.size = sym.st_size;
    if (!versions.versym.empty()) {
      const std::uint16_t v = versions.versym[i];
      const std::uint16_t index = v & 0x7fff;
      // 0 is local and 1 the unversioned global; the base definition also has index 1.
      if (index >= 2) {
        auto it = versions.names.find(index);
        if (it == versions.names.end()) {
          return fail(elf.corrupt("symbol " + std::to_string(i) + " (" + out.name +
                                  ") has version index " + std::to_string(index) +
                                  ", which neither .gnu.version_d nor .gnu.version_r defines"));
        }
        out.version = it->second;
      }
      // The hidden bit only means something on a definition (name@VER, not name@@VER).
      out.version_hidden = out.defined && (v & 0x8000) != 0;
    }
    symbols.push_back(std::move(out));
  }
  return symbols;
}

std::vector<image_pin> find_pins(const std::vector<elf_symbol>& symbols, std::uint64_t flags_1) {
  std::vector<image_pin> pins;
  for (const elf_symbol& s : symbols) {
    if (s.defined && s.binding == STB_GNU_UNIQUE) {
      pins.push_back({image_pin::reason::gnu_unique_symbol, s.name});
    }
  }
  for (const elf_symbol& s : symbols) {
    if (!s.defined && (s.name == "__cxa_thread_atexit" || s.name == "__cxa_thread_atexit_impl")) {
      pins.push_back({image_pin::reason::tls_symbol, s.name});
    }
  }
  if ((flags_1 & DF_1_NODELETE) != 0) {
    pins.push_back({image_pin::reason::nodelete_flag, "DF_1_NODELETE"});
  }
  return pins;
}

}  // namespace livemod::image_detail
