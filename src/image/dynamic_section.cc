#include "image/dynamic_section.h"

#include <string>

namespace livemod::image_detail {

std::vector<std::string> split_search_path(std::string_view list) {
  std::vector<std::string> parts;
  for (;;) {
    const std::size_t colon = list.find(':');
    parts.emplace_back(list.substr(0, colon));
    if (colon == std::string_view::npos) break;
    list.remove_prefix(colon + 1);
  }
  return parts;
}

result<void> read_dynamic_section(const elf_file& elf, image_info& out) {
  const elf_section* dynamic = elf.find_section_of_type(SHT_DYNAMIC);
  if (dynamic == nullptr) return {};
  auto count = elf.entry_count(*dynamic, ELF_T_DYN);
  if (!count) return fail(count.error());
  auto strings = elf.linked_strings(*dynamic);
  if (!strings) return fail(strings.error());
  auto data = elf.data(*dynamic);
  if (!data) return fail(data.error());

  for (std::size_t i = 0; i < *count; ++i) {
    GElf_Dyn entry{};
    if (gelf_getdyn(*data, static_cast<int>(i), &entry) == nullptr) {
      return fail(elf.corrupt("libelf cannot read entry " + std::to_string(i) + " of " +
                              elf_file::describe(*dynamic) + ": " + elf_errmsg(-1)));
    }
    // The loader stops at DT_NULL; what follows is padding that linkers leave for tools.
    if (entry.d_tag == DT_NULL) break;
    const auto string_value = [&](const char* tag) {
      return elf.string_at(**strings, entry.d_un.d_val, [&] {
        return std::string("the ") + tag + " string of dynamic entry " + std::to_string(i);
      });
    };
    switch (entry.d_tag) {
      case DT_NEEDED: {
        auto s = string_value("DT_NEEDED");
        if (!s) return fail(s.error());
        out.needed.emplace_back(*s);
        break;
      }
      case DT_SONAME: {
        auto s = string_value("DT_SONAME");
        if (!s) return fail(s.error());
        out.soname = *s;
        break;
      }
      case DT_RPATH: {
        auto s = string_value("DT_RPATH");
        if (!s) return fail(s.error());
        out.rpath = split_search_path(*s);
        break;
      }
      case DT_RUNPATH: {
        auto s = string_value("DT_RUNPATH");
        if (!s) return fail(s.error());
        out.runpath = split_search_path(*s);
        break;
      }
      case DT_FLAGS:
        out.flags = entry.d_un.d_val;
        break;
      case DT_FLAGS_1:
        out.flags_1 = entry.d_un.d_val;
        break;
      default:
        break;
    }
  }
  return {};
}

}  // namespace livemod::image_detail
