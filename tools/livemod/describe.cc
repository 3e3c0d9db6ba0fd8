#include "describe.h"

#include <cxxabi.h>
#include <elf.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>

#include "output.h"

namespace livemod::cli {

namespace {

nlohmann::ordered_json string_or_null(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

std::string hex(std::uint64_t v) {
  char buf[2 + 16 + 1];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string s;
  for (const auto& item : items) {
    if (!s.empty()) s += sep;
    s += printable(item);
  }
  return s;
}

}  // namespace

std::string fingerprint_line(const build_fingerprint& fp) {
  std::vector<std::string> parts;
  parts.push_back(fp.compiler +
                  (fp.compiler_major > 0 ? " " + std::to_string(fp.compiler_major) : ""));
  parts.push_back(fp.arch);
  if (fp.cxx11_abi >= 0) parts.push_back("cxx11_abi=" + std::to_string(fp.cxx11_abi));
  parts.emplace_back(fp.exceptions ? "exceptions" : "no-exceptions");
  parts.emplace_back(fp.rtti ? "rtti" : "no-rtti");
  if (fp.glibcxx_debug) parts.emplace_back("_GLIBCXX_DEBUG");
  if (fp.asan) parts.emplace_back("asan");
  if (fp.tsan) parts.emplace_back("tsan");
  return join(parts, ", ");
}

nlohmann::ordered_json fingerprint_json(const build_fingerprint& fp) {
  return {{"compiler", fp.compiler},
          {"compiler_major", fp.compiler_major},
          {"cxx11_abi", fp.cxx11_abi},
          {"arch", fp.arch},
          {"exceptions", fp.exceptions},
          {"rtti", fp.rtti},
          {"glibcxx_debug", fp.glibcxx_debug},
          {"asan", fp.asan},
          {"tsan", fp.tsan}};
}

nlohmann::ordered_json manifest_json(const manifest& m) {
  auto deps = nlohmann::ordered_json::array();
  for (const auto& d : m.dependencies)
    deps.push_back(
        {{"name", d.name}, {"range", d.range.text()}, {"kind", std::string(to_string(d.kind))}});
  auto ifaces = nlohmann::ordered_json::array();
  for (const auto& i : m.interfaces)
    ifaces.push_back({{"id", i.id},
                      {"name", string_or_null(i.name)},
                      {"methods", i.methods},
                      {"layout_hash", hex(i.layout_hash)}});
  const auto& ep = m.entry_points;
  return {{"schema", m.schema},
          {"name", m.name},
          {"version", m.version.to_string()},
          {"abi", m.abi},
          {"fingerprint",
           m.fingerprint ? fingerprint_json(*m.fingerprint) : nlohmann::ordered_json(nullptr)},
          {"dependencies", std::move(deps)},
          {"interfaces", std::move(ifaces)},
          {"state_schema", m.state_schema},
          {"permissions", m.permissions},
          {"entry_points",
           {{"on_load", string_or_null(ep.on_load)},
            {"on_unload", string_or_null(ep.on_unload)},
            {"save_state", string_or_null(ep.save_state)},
            {"restore_state", string_or_null(ep.restore_state)}}}};
}

void print_manifest(std::ostream& os, const manifest& m, std::size_t indent) {
  // Lists go one item a line in the value column, so the whole manifest is one aligned block.
  std::string deps;
  for (const auto& d : m.dependencies) {
    if (!deps.empty()) deps += '\n';
    deps += printable(d.name) + " " + printable(d.range.text()) + " (" +
            std::string(to_string(d.kind)) + ")";
  }
  std::string ifaces;
  for (const auto& i : m.interfaces) {
    if (!ifaces.empty()) ifaces += '\n';
    const std::string methods =
        std::to_string(i.methods) + (i.methods == 1 ? " method" : " methods");
    ifaces += (i.name.empty() ? printable(i.id) : printable(i.name)) + ", " + methods +
              ", layout hash " + hex(i.layout_hash);
    if (!i.name.empty()) ifaces += "\n  id " + printable(i.id);
  }
  std::string entries;
  const auto add_entry = [&entries](std::string_view key, const std::string& symbol) {
    if (symbol.empty()) return;
    if (!entries.empty()) entries += '\n';
    entries += std::string(key) + ": " + printable(symbol);
  };
  add_entry("on_load", m.entry_points.on_load);
  add_entry("on_unload", m.entry_points.on_unload);
  add_entry("save_state", m.entry_points.save_state);
  add_entry("restore_state", m.entry_points.restore_state);

  field_list rows;
  rows.add("name", printable(m.name))
      .add("version", printable(m.version.to_string()))
      .add("abi", std::to_string(m.abi))
      .add("fingerprint", m.fingerprint ? fingerprint_line(*m.fingerprint)
                                        : "none (not built by livemod_add_module)")
      .add("dependencies", deps.empty() ? "none" : deps)
      .add("interfaces", ifaces.empty() ? "none" : ifaces)
      .add("state schema", m.state_schema == 0 ? "0 (no state)" : std::to_string(m.state_schema))
      .add("permissions", m.permissions.empty() ? "none" : join(m.permissions, ", "))
      .add("entry points", entries.empty() ? "none" : entries);
  rows.print(os, indent);
}

std::string class_name(elf_class c) { return c == elf_class::elf32 ? "ELF32" : "ELF64"; }

std::string type_name(std::uint16_t type) {
  switch (type) {
    case ET_NONE:
      return "no file type";
    case ET_REL:
      return "relocatable object";
    case ET_EXEC:
      return "executable";
    case ET_DYN:
      return "shared object";
    case ET_CORE:
      return "core file";
    default:
      return "type " + std::to_string(type);
  }
}

std::string type_key(std::uint16_t type) {
  switch (type) {
    case ET_NONE:
      return "none";
    case ET_REL:
      return "relocatable";
    case ET_EXEC:
      return "executable";
    case ET_DYN:
      return "shared_object";
    case ET_CORE:
      return "core";
    default:
      return "type_" + std::to_string(type);
  }
}

std::string os_abi_name(std::uint8_t os_abi) {
  switch (os_abi) {
    case ELFOSABI_SYSV:
      return "SYSV";
    case ELFOSABI_GNU:
      return "GNU";
    case ELFOSABI_FREEBSD:
      return "FreeBSD";
    case ELFOSABI_NETBSD:
      return "NetBSD";
    case ELFOSABI_OPENBSD:
      return "OpenBSD";
    case ELFOSABI_SOLARIS:
      return "Solaris";
    default:
      return "OS ABI " + std::to_string(os_abi);
  }
}

std::string os_abi_key(std::uint8_t os_abi) {
  switch (os_abi) {
    case ELFOSABI_SYSV:
      return "sysv";
    case ELFOSABI_GNU:
      return "gnu";
    case ELFOSABI_FREEBSD:
      return "freebsd";
    case ELFOSABI_NETBSD:
      return "netbsd";
    case ELFOSABI_OPENBSD:
      return "openbsd";
    case ELFOSABI_SOLARIS:
      return "solaris";
    default:
      return "os_abi_" + std::to_string(os_abi);
  }
}

std::vector<dynamic_flag> dynamic_flags(const image_info& img) {
  const auto f = img.flags;
  const auto f1 = img.flags_1;
  // The ones that change whether or how a module loads and unloads; DF_BIND_NOW and DF_1_NOW
  // (and the two ORIGIN flags) say the same thing, so each pair is one key.
  return {
      {"nodelete", "NODELETE", (f1 & DF_1_NODELETE) != 0},
      {"noopen", "NOOPEN", (f1 & DF_1_NOOPEN) != 0},
      {"bind_now", "BIND_NOW", (f & DF_BIND_NOW) != 0 || (f1 & DF_1_NOW) != 0},
      {"static_tls", "STATIC_TLS", (f & DF_STATIC_TLS) != 0},
      {"textrel", "TEXTREL", (f & DF_TEXTREL) != 0},
      {"symbolic", "SYMBOLIC", (f & DF_SYMBOLIC) != 0},
      {"origin", "ORIGIN", (f & DF_ORIGIN) != 0 || (f1 & DF_1_ORIGIN) != 0},
      {"global", "GLOBAL", (f1 & DF_1_GLOBAL) != 0},
      {"initfirst", "INITFIRST", (f1 & DF_1_INITFIRST) != 0},
      {"interpose", "INTERPOSE", (f1 & DF_1_INTERPOSE) != 0},
      {"nodeflib", "NODEFLIB", (f1 & DF_1_NODEFLIB) != 0},
      {"pie", "PIE", (f1 & DF_1_PIE) != 0},
  };
}

std::string binding_name(std::uint8_t binding) {
  switch (binding) {
    case STB_LOCAL:
      return "local";
    case STB_GLOBAL:
      return "global";
    case STB_WEAK:
      return "weak";
    case STB_GNU_UNIQUE:
      return "unique";
    default:
      return "binding_" + std::to_string(binding);
  }
}

std::string symbol_type_name(std::uint8_t type) {
  switch (type) {
    case STT_NOTYPE:
      return "notype";
    case STT_OBJECT:
      return "object";
    case STT_FUNC:
      return "func";
    case STT_SECTION:
      return "section";
    case STT_FILE:
      return "file";
    case STT_COMMON:
      return "common";
    case STT_TLS:
      return "tls";
    case STT_GNU_IFUNC:
      return "ifunc";
    default:
      return "type_" + std::to_string(type);
  }
}

std::string versioned_name(const elf_symbol& s) {
  std::string name = printable(s.name);
  if (s.version.empty()) return name;
  // readelf's convention: name@@VER is the default a definition exports, name@VER a hidden
  // (non-default) definition or a reference.
  return name + (s.defined && !s.version_hidden ? "@@" : "@") + printable(s.version);
}

std::string pin_reason_key(image_pin::reason r) {
  switch (r) {
    case image_pin::reason::gnu_unique_symbol:
      return "gnu_unique_symbol";
    case image_pin::reason::tls_symbol:
      return "tls_symbol";
    case image_pin::reason::nodelete_flag:
      return "nodelete_flag";
  }
  return "unknown";
}

std::string demangled(const std::string& symbol) {
  int status = 0;
  const std::unique_ptr<char, decltype(&std::free)> text(
      abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status), &std::free);
  return status == 0 && text ? std::string(text.get()) : symbol;
}

pin_text describe_pin(const image_pin& pin) {
  // Worded as `livemod check` words its E408 warnings. C++ names read better demangled; the
  // mangled one stays beside it, as it is what nm and readelf show.
  std::string name = printable(pin.detail);
  if (const std::string plain = demangled(pin.detail); plain != pin.detail)
    name = printable(plain) + " (" + name + ")";
  switch (pin.why) {
    case image_pin::reason::gnu_unique_symbol:
      return {"cannot be unloaded: STB_GNU_UNIQUE symbol " + name,
              "build with -fno-gnu-unique (livemod_add_module does)"};
    case image_pin::reason::tls_symbol:
      return {"stays loaded until every thread that used its thread_local objects has exited (" +
                  name + ")",
              "avoid thread_local objects with destructors in modules, or keep them in the host"};
    case image_pin::reason::nodelete_flag:
      return {"cannot be unloaded: it is marked " + name, "link it without -z nodelete"};
  }
  return {"cannot be unloaded: " + name, ""};
}

}  // namespace livemod::cli
