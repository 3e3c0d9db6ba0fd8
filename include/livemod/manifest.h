// File: livemod/manifest.h
//
// The module manifest, schema v1: a JSON object that livemod_add_module embeds in the module's
// `.livemod.manifest` section, read without loading the module. This header is the schema, its
// parser and validator, semantic versions and version ranges, and build fingerprints.
//
//   auto m = livemod::parse_manifest(img->manifest_json.value(), "libcalc.so");
//   if (!m) return fail(m.error());              // manifest_bad_json / manifest_schema ...
//   for (const auto& d : m->dependencies)
//     if (!d.range.contains(found_version)) ...  // "^1.2", ">=1.2 <2", "~1.2.3"
//
// Lifetime and threads: plain values; the functions are pure and reentrant.
//
// The schema (docs/manifest.md has the full reference):
//   {
//     "schema": 1,                              // required, must be 1
//     "name": "calculator",                     // required, [a-z0-9_][a-z0-9_.-]*, <= 64 chars
//     "version": "1.2.0",                       // required, semver 2.0
//     "abi": 1,                                 // required, livemod ABI version, 1..2^32-1
//     "fingerprint": {...},                     // filled in by the build (sdk/fingerprint.h)
//     "dependencies": [                         // optional, default []
//       {"name": "math", "version": ">=1.2 <2", "kind": "required"}  // kind: required|weak|upward
//     ],
//     "interfaces": [                           // optional, default []
//       {"id": "6f1c...", "name": "calculator_api", "methods": 2, "layout_hash": "0x9e37..."}
//     ],
//     "state_schema": 1,                        // optional, default 0 (no state), 0..2^32-1
//     "permissions": ["network"],               // optional, default []; see known_permissions()
//     "entry_points": {"on_load": "calc_on_load", "on_unload": "...",
//                      "save_state": "...", "restore_state": "..."}  // optional, C identifiers
//   }
// In detail:
//   - dependencies[i]: "name" required, a valid module name, not the module's own, listed once;
//     "version" optional, a version_range, default "*"; "kind" optional, default "required".
//   - interfaces[i]: "id" required, non-empty, unique; "name" optional; "methods" required,
//     0..2^32-1; "layout_hash" optional (default 0), "0x" + 1 to 16 hex digits, or an unsigned
//     integer.
//   - permissions: each from known_permissions(), each once.
//   - entry_points: each a C identifier of at most 255 characters; save_state and restore_state
//     come together or not at all.
//   - fingerprint: every field of build_fingerprint is required; members this version does not
//     know are allowed (a newer build may record more).
// Unknown keys are an error (a typo must not pass silently), except keys starting with "x-",
// which are left to their owners; this holds at the top level and inside dependencies[i],
// interfaces[i] and entry_points. A key written twice in one object is an error too.
// Numbers must be integers: 1.0 is not an "abi".

#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "livemod/error.h"

namespace livemod {

// A semantic version (semver.org 2.0). Build metadata is kept but does not take part in
// comparison; pre-release identifiers do, with the spec's precedence rules.
struct semver {
  std::uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> prerelease;  // "rc.1" -> {"rc", "1"}
  std::string build;

  std::string to_string() const;
  friend std::strong_ordering operator<=>(const semver& a, const semver& b);
  friend bool operator==(const semver& a, const semver& b) { return (a <=> b) == 0; }
};

// Errors: manifest_bad_version, naming the text and what is wrong with it.
result<semver> parse_semver(std::string_view text);

// A version range in the npm / Cargo manner: space-separated comparators that all must hold
// (">=1.2 <2", "=1.0.0", ">1.0.0-rc.1"; an operator may be followed by spaces, ">= 1.2"),
// caret ("^1.2": >=1.2.0 <2.0.0; "^0.2": <0.3.0; "^0.0.3": <0.0.4), tilde ("~1.2.3": >=1.2.3
// <1.3.0; "~1": <2.0.0), x-ranges ("1.x", "1.2.*", "*", "x"; a bare "1.2" means 1.2.x),
// partial versions with operators (">=1.2" is >=1.2.0, ">1.2" is >=1.3.0, "<=1.2" is <1.3.0),
// hyphen ranges ("1.2 - 2.3.4": >=1.2.0 <=2.3.4, the whole alternative), and alternatives
// joined by "||". Upper bounds made from partials exclude their pre-releases ("^1.2" is
// >=1.2.0 <2.0.0-0, so 2.0.0-rc.1 is out). A pre-release version satisfies a range only if
// some comparator of the same alternative names a pre-release of the same major.minor.patch
// (npm's rule): ">=1.2.0-rc.1" holds for 1.2.0-rc.2 but not for 1.3.0-rc.1. Build metadata is
// accepted and ignored. Not accepted: an empty range (write "*"), a leading "v", ">*", "<*".
class version_range {
 public:
  // The range that every version satisfies ("*").
  version_range();
  bool contains(const semver& v) const;
  // The text it was parsed from, as written.
  const std::string& text() const { return text_; }
  // What the range means, as plain comparators: "^1.2 || 3" -> ">=1.2.0 <2.0.0-0 || >=3.0.0
  // <4.0.0-0"; "*" for any version. For messages that explain why a version did not match.
  std::string canonical() const;

 private:
  friend result<version_range> parse_version_range(std::string_view text);
  struct comparator {
    enum class op : std::uint8_t { eq, lt, le, gt, ge };
    op kind;
    semver version;
  };
  std::string text_;
  std::vector<std::vector<comparator>> alternatives_;  // OR of ANDs
};

// Errors: manifest_bad_range, naming the text and the offending part.
result<version_range> parse_version_range(std::string_view text);

// How a build was compiled; see livemod/sdk/fingerprint.h for where each field comes from.
struct build_fingerprint {
  std::string compiler;        // "gcc", "clang", "unknown"
  int compiler_major = 0;
  int cxx11_abi = -1;          // _GLIBCXX_USE_CXX11_ABI: 1 new std::string/list, 0 old, -1 n/a
  std::string arch;            // "x86_64", "aarch64", ...
  bool exceptions = true;
  bool rtti = true;
  bool glibcxx_debug = false;
  bool asan = false;
  bool tsan = false;
};

// One difference between two fingerprints and what it means for loading.
struct fingerprint_difference {
  enum class severity : std::uint8_t { info, warning, error };
  severity level;
  std::string field;      // "cxx11_abi"
  std::string module_value, host_value;
  std::string consequence;  // "std::string and std::list have different layouts"
};

// The differences between a module's fingerprint and its host's, most severe first. Errors:
// arch, cxx11_abi (when both are known), glibcxx_debug, a sanitizer the host lacks; warnings:
// compiler family, exceptions, rtti; info: compiler major version.
std::vector<fingerprint_difference> compare_fingerprints(const build_fingerprint& module,
                                                         const build_fingerprint& host);

enum class dependency_kind : std::uint8_t { required, weak, upward };
std::string_view to_string(dependency_kind kind);

struct dependency {
  std::string name;
  version_range range;
  dependency_kind kind = dependency_kind::required;
};

struct interface_decl {
  std::string id;             // a UUID or any stable non-empty string
  std::string name;           // optional, for people
  std::uint32_t methods = 0;  // method count (vtable slots the host may call)
  std::uint64_t layout_hash = 0;
};

struct entry_points {
  std::string on_load, on_unload, save_state, restore_state;  // "" when absent
};

struct manifest {
  int schema = 1;
  std::string name;
  semver version;
  std::uint32_t abi = 0;
  std::optional<build_fingerprint> fingerprint;  // absent if the module was not built by us
  std::vector<dependency> dependencies;
  std::vector<interface_decl> interfaces;
  std::uint32_t state_schema = 0;
  std::vector<std::string> permissions;
  struct entry_points entry_points;
};

// Whether `name` is a valid module name: [a-z0-9_][a-z0-9_.-]*, at most 64 characters. Names
// map to files ("calc" -> "libcalc.so"), so no path separator and no leading '.' or '-'.
bool valid_module_name(std::string_view name);

// Parses and validates a manifest. `source` names where it came from ("libcalc.so") for the
// messages. Trailing NUL bytes (the section holds a C string) are ignored. Validation stops at
// the first problem. Never throws. Errors:
//   manifest_bad_json    not JSON; the message gives the 0-based byte offset of the character
//                        where parsing stopped, its line and column, and the parser's reason
//   manifest_schema      a field missing, of the wrong type or out of range, an unknown or a
//                        duplicated key; names the field path ("dependencies[1].kind"), what
//                        was found and what was expected
//   manifest_bad_version the version is not semver
//   manifest_bad_range   a dependency's range does not parse
result<manifest> parse_manifest(std::string_view json, std::string_view source);

// Parses a fingerprint object: the "fingerprint" member, or LIVEMOD_BUILD_FINGERPRINT_JSON
// from livemod/sdk/fingerprint.h for the flags of the code that expands it. Errors:
// manifest_bad_json (not JSON), manifest_schema (a field missing or of the wrong type, named
// as `fingerprint field "asan"`; the remedy is to rebuild, since the build writes it).
result<build_fingerprint> parse_fingerprint(std::string_view json, std::string_view source);

// The fingerprint of the livemod library build itself (what a host linked with it was built
// with, when the host has no manifest of its own).
build_fingerprint library_fingerprint();

// The highest manifest "abi" this livemod understands (LIVEMOD_ABI_VERSION).
std::uint32_t supported_abi_version();

// The permissions a manifest may ask for; anything else is a manifest_schema error. The isolate
// layer turns them into a sandbox (seccomp, limits) for modules run out of process:
//   "filesystem.read"   open files for reading
//   "filesystem.write"  create, write, rename and delete files
//   "network"           sockets: connect, listen, resolve names
//   "process.spawn"     fork and exec other programs
//   "threads"           start threads of its own
std::span<const std::string_view> known_permissions();

}  // namespace livemod
