// How livemod's values read in the CLI: one-line human forms and the JSON objects of
// docs/cli.md, shared by the verbs so that `inspect` and `check` describe a fingerprint or a
// manifest the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "livemod/image.h"
#include "livemod/manifest.h"

namespace livemod::cli {

// "gcc 12, x86_64, cxx11_abi=1, exceptions, rtti" (then "no-exceptions", "_GLIBCXX_DEBUG",
// "asan", "tsan" when they apply).
std::string fingerprint_line(const build_fingerprint& fp);
nlohmann::ordered_json fingerprint_json(const build_fingerprint& fp);

// The parsed manifest in the stable JSON form (not the embedded text: keys and defaults are
// normalized, so a script need not handle optional members).
nlohmann::ordered_json manifest_json(const manifest& m);

// The manifest as an indented block of lines.
void print_manifest(std::ostream& os, const manifest& m, std::size_t indent);

// ELF header fields. Human: "ELF64", "shared object", "SYSV". JSON: "elf64", "shared_object",
// "sysv"; unknown values as "machine 1234" / "os_abi_77" so a new value never breaks a script.
std::string class_name(elf_class c);
std::string type_name(std::uint16_t type);
std::string type_key(std::uint16_t type);
std::string os_abi_name(std::uint8_t os_abi);
std::string os_abi_key(std::uint8_t os_abi);

// The dynamic flags livemod cares about, in a fixed order: {json key, readelf name, set}.
struct dynamic_flag {
  std::string_view key;
  std::string_view name;
  bool set;
};
std::vector<dynamic_flag> dynamic_flags(const image_info& img);

// STB_* and STT_* as lowercase words ("global", "unique", "func", "tls").
std::string binding_name(std::uint8_t binding);
std::string symbol_type_name(std::uint8_t type);
// "name", "name@@VER" (the default version a definition gets), "name@VER".
std::string versioned_name(const elf_symbol& s);

// Pins: the JSON reason, and for people what it means and what to do about it.
std::string pin_reason_key(image_pin::reason r);
struct pin_text {
  std::string message;  // "cannot be unloaded: STB_GNU_UNIQUE symbol foo::bar (_ZN3foo3barE)"
  std::string remedy;
};
pin_text describe_pin(const image_pin& pin);

// The C++ name of a mangled symbol ("_ZN3foo3barE" -> "foo::bar"); other names unchanged.
std::string demangled(const std::string& symbol);

}  // namespace livemod::cli
