// `livemod inspect FILE`: what a shared object is, read as data (nothing is loaded): its ELF
// facts, what it needs, what would keep it in memory, and its livemod manifest.
#include <elf.h>

#include <CLI/CLI.hpp>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.h"
#include "describe.h"
#include "livemod/image.h"
#include "livemod/manifest.h"
#include "output.h"

namespace livemod::cli {

namespace {

struct inspect_options {
  std::string file;
  bool json = false;
  bool symbols = false;
};
inspect_options opts;

// Enough exported functions to recognize a module at a glance; --symbols shows every symbol.
constexpr std::size_t k_listed_exports = 20;

bool is_exported_function(const elf_symbol& s) {
  return s.defined && s.binding != STB_LOCAL && (s.type == STT_FUNC || s.type == STT_GNU_IFUNC);
}

// The manifest, parsed when the file has one: a value, an error, or neither (no manifest).
struct manifest_result {
  std::optional<manifest> value;
  std::optional<error> problem;
};

manifest_result read_manifest(const image_info& img) {
  manifest_result r;
  if (!img.manifest_json) return r;
  auto parsed = parse_manifest(*img.manifest_json, opts.file);
  if (parsed)
    r.value = std::move(*parsed);
  else
    r.problem = std::move(parsed.error());
  return r;
}

nlohmann::ordered_json symbol_json(const elf_symbol& s) {
  return {{"name", s.name},
          {"version",
           s.version.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.version)},
          {"version_hidden", s.version_hidden},
          {"defined", s.defined},
          {"binding", binding_name(s.binding)},
          {"type", symbol_type_name(s.type)},
          {"value", s.value},
          {"size", s.size}};
}

nlohmann::ordered_json to_json(const image_info& img, const manifest_result& m) {
  auto flags = nlohmann::ordered_json::object();
  for (const auto& f : dynamic_flags(img)) flags[std::string(f.key)] = f.set;

  auto needs = nlohmann::ordered_json::array();
  for (const auto& n : img.version_needs) {
    // Weak needs (VER_FLG_WEAK) are rare: a separate list keeps "versions" plain strings.
    auto weak = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < n.versions.size() && i < n.weak.size(); ++i)
      if (n.weak[i]) weak.push_back(n.versions[i]);
    needs.push_back({{"file", n.file}, {"versions", n.versions}, {"weak", std::move(weak)}});
  }

  std::size_t defined = 0;
  for (const auto& s : img.symbols) defined += s.defined ? 1 : 0;
  nlohmann::ordered_json symbols = {{"defined", defined},
                                    {"undefined", img.symbols.size() - defined}};
  if (opts.symbols) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& s : img.symbols) list.push_back(symbol_json(s));
    symbols["list"] = std::move(list);
  }

  auto pins = nlohmann::ordered_json::array();
  for (const auto& p : img.pins)
    pins.push_back({{"reason", pin_reason_key(p.why)}, {"detail", p.detail}});

  return {{"file", opts.file},
          {"size", img.file_size},
          {"class", img.cls == elf_class::elf32 ? "elf32" : "elf64"},
          {"endian", img.little_endian ? "little" : "big"},
          {"machine", img.machine_name},
          {"type", type_key(img.type)},
          {"os_abi", os_abi_key(img.os_abi)},
          {"soname", img.soname.empty() ? nlohmann::ordered_json(nullptr)
                                        : nlohmann::ordered_json(img.soname)},
          {"needed", img.needed},
          {"rpath", img.rpath},
          {"runpath", img.runpath},
          {"flags", std::move(flags)},
          {"version_needs", std::move(needs)},
          {"version_defs", img.version_defs},
          {"symbols", std::move(symbols)},
          {"pins", std::move(pins)},
          {"manifest", m.value ? manifest_json(*m.value) : nlohmann::ordered_json(nullptr)},
          {"manifest_error", m.problem ? error_json(*m.problem) : nlohmann::ordered_json(nullptr)}};
}

std::string joined(const std::vector<std::string>& items, std::string_view sep,
                   std::string_view none = "none") {
  if (items.empty()) return std::string(none);
  std::string s;
  for (const auto& item : items) {
    if (!s.empty()) s += sep;
    s += printable(item);
  }
  return s;
}

// The symbol counts, what it exports (or with --symbols, every symbol), and what pins it.
void print_symbols_and_pins(output& out, const image_info& img) {
  std::ostream& os = out.out();
  std::size_t defined = 0;
  for (const auto& s : img.symbols) defined += s.defined ? 1 : 0;
  field_list rows;
  rows.add("symbols", std::to_string(defined) + " defined, " +
                          std::to_string(img.symbols.size() - defined) + " undefined");
  if (!opts.symbols) {
    std::vector<std::string> exports;
    std::size_t more = 0;
    for (const auto& s : img.symbols) {
      if (!is_exported_function(s)) continue;
      if (exports.size() < k_listed_exports)
        exports.push_back(versioned_name(s));
      else
        ++more;
    }
    if (more != 0)
      exports.push_back("... and " + std::to_string(more) + " more (--symbols lists every symbol)");
    rows.add("exported functions", joined(exports, "\n"));
  }
  // A pinned image gets warnings with remedies below instead of a row.
  if (img.pins.empty()) rows.add("pins", "none (dlclose can unmap it)");
  rows.print(os);

  if (opts.symbols) {
    os << "dynamic symbols:\n";
    std::vector<std::vector<std::string>> table;
    for (const auto& s : img.symbols)
      table.push_back({s.defined ? "defined" : "undefined", binding_name(s.binding),
                       symbol_type_name(s.type), versioned_name(s)});
    print_columns(os, table, 2);
  }
  for (const auto& p : img.pins) {
    const pin_text text = describe_pin(p);
    os << out.paint("warning:", tone::yellow) << ' ' << text.message << '\n';
    if (!text.remedy.empty()) os << "  remedy: " << text.remedy << '\n';
  }
}

int print_human(output& out, const image_info& img, const manifest_result& m) {
  std::ostream& os = out.out();
  std::string format = class_name(img.cls) +
                       (img.little_endian ? " little-endian " : " big-endian ") +
                       printable(img.machine_name) + " " + type_name(img.type);
  if (img.os_abi != 0) format += ", OS ABI " + os_abi_name(img.os_abi);

  std::vector<std::string> flag_names;
  for (const auto& f : dynamic_flags(img))
    if (f.set) flag_names.emplace_back(f.name);

  std::string version_needs;
  for (const auto& n : img.version_needs) {
    if (!version_needs.empty()) version_needs += '\n';
    version_needs += printable(n.file) + ":";
    for (std::size_t i = 0; i < n.versions.size(); ++i) {
      version_needs += ' ' + printable(n.versions[i]);
      if (i < n.weak.size() && n.weak[i]) version_needs += " (weak)";
    }
  }

  // The first Verdef entry is the base one, the file's own name: not a version anyone needs.
  std::vector<std::string> defined_versions;
  if (img.version_defs.size() > 1)
    defined_versions.assign(img.version_defs.begin() + 1, img.version_defs.end());

  // One aligned block for the ELF facts; lists continue one item a line in the value column.
  field_list head;
  head.add("file", printable(opts.file))
      .add("size", std::to_string(img.file_size) + " bytes")
      .add("format", format)
      .add("soname", img.soname.empty() ? "none" : printable(img.soname))
      .add("needed", joined(img.needed, "\n"))
      .add("rpath", joined(img.rpath, ":"))
      .add("runpath", joined(img.runpath, ":"))
      .add("flags", joined(flag_names, " "))
      .add("required versions", version_needs.empty() ? "none" : version_needs)
      .add("defined versions", joined(defined_versions, " "));
  head.print(os);

  os << '\n';
  print_symbols_and_pins(out, img);

  os << '\n';
  if (m.value) {
    os << out.paint("manifest:", tone::bold) << '\n';
    print_manifest(os, *m.value, 2);
    return k_exit_ok;
  }
  if (!m.problem) {
    os << "manifest: none (" << (img.type == ET_DYN ? "a plain shared library, " : "")
       << "not a livemod module)\n";
    return k_exit_ok;
  }
  // The details go to stderr with the other errors; stdout says where the report stops.
  os << "manifest: " << out.paint("invalid", tone::red) << " (E"
     << static_cast<int>(m.problem->code()) << ' ' << to_string(m.problem->code()) << ")\n";
  return out.fail(*m.problem);
}

}  // namespace

void setup_inspect(CLI::App& app) {
  app.add_option("FILE", opts.file, "The shared object to read (it is not loaded)")
      ->required()
      ->type_name("");
  app.add_flag("--json", opts.json, "Print one JSON object on stdout (docs/cli.md), errors too");
  app.add_flag("--symbols", opts.symbols, "List every dynamic symbol, not only exported functions");
  app.footer(
      "Exit status:\n"
      "  0  the file was read, and its manifest (if any) is valid\n"
      "  1  the file cannot be read as a shared object, or its manifest is present but invalid\n"
      "     (the report is still printed; the manifest error goes to stderr, or to\n"
      "     \"manifest_error\" with --json)\n"
      "  2  usage error");
}

int run_inspect(output& out) {
  auto img = read_image(opts.file);
  if (!img) return opts.json ? out.fail_json(img.error()) : out.fail(img.error());
  const manifest_result m = read_manifest(*img);
  if (opts.json) {
    out.json(to_json(*img, m));
    return m.problem ? k_exit_failed : k_exit_ok;
  }
  return print_human(out, *img, m);
}

}  // namespace livemod::cli
