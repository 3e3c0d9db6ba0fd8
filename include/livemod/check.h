// File: livemod/check.h
//
// Proving a module compatible with a host before any of its code runs: the preflight.
// Everything is read as data (livemod/image.h); nothing is loaded. The answer is a list of
// findings, each with a severity, a code, a message that names the cause and a remedy.
//
//   livemod::check_options opts;
//   opts.host = "/usr/bin/myserver";                 // default: this process
//   auto report = livemod::check("build/libcalc.so", opts);
//   if (!report) return fail(report.error());        // the module could not be read at all
//   for (const auto& f : report->findings) std::cout << f.message << "\n";
//   return report->compatible() ? 0 : 1;
//
// What it checks:
//   - class and machine match the host's;
//   - every NEEDED library resolves by ld.so's own search rules (DT_RPATH when there is no
//     DT_RUNPATH, LD_LIBRARY_PATH, DT_RUNPATH, /etc/ld.so.cache, the default directories),
//     transitively, saying which rule found each one or every place tried;
//   - every required symbol version (verneed) is defined (verdef) by the library providing it;
//   - every undefined, non-weak symbol is defined by the host, a library in its load scope or
//     the module's own dependencies (`ldd -r` without running anything);
//   - the manifest parses, its "abi" is supported, and its build fingerprint matches the
//     host's (a host without a manifest gets a fingerprint inferred from its image);
//   - reasons the module could not be unloaded (STB_GNU_UNIQUE, TLS, DF_1_NODELETE): warnings.
//
// The findings, by code (src/compat/ has the rules, each tied to the glibc behaviour it mirrors):
//   class_mismatch, arch_mismatch  error; the library, version and symbol checks are then
//                                  skipped (for another machine they are only noise)
//   needed_not_found               error per library ld.so would not find, naming every place
//                                  tried (also in `libraries`)
//   a read_image code              error: a library was found but cannot be read
//   symbol_version_unavailable     error: "libcalc.so: needs GLIBC_2.99 from libc.so.6 but
//                                  /lib/x86_64-linux-gnu/libc.so.6 provides up to GLIBC_2.36";
//                                  a warning when the library has no version information at all
//   unresolved_symbol              error; info when the same object also misses a library,
//                                  which then most likely defines it; none for a symbol whose
//                                  version was already reported unavailable
//   manifest_missing               error, or a warning with allow_missing_manifest
//   manifest_bad_json, _schema ... error (the code parse_manifest gives)
//   abi_unsupported                error: the manifest's "abi" is above supported_abi_version()
//   fingerprint_mismatch           the severity compare_fingerprints gives; fields a host's
//                                  image cannot show (exceptions, rtti, ...) are not compared
//   image_pinned                   warning per STB_GNU_UNIQUE / TLS symbol or DF_1_NODELETE
//   incompatible                   error: the module is marked DF_1_NOOPEN
// A host given by path is read as data like the module; its load scope is its DT_NEEDED
// closure (what ld.so builds at start-up), not libraries it may dlopen later or LD_PRELOAD.
//
// Files are read through read_image_shared (image.h), so a module or library read before and
// unchanged since (same path, device, inode, size, mtime) is not read again, and the host's
// scope is built once per host file state and search environment (for this process, once per
// search environment: what it has mapped is what it runs, whatever is on disk now).
//
// Lifetime and threads: reentrant, and safe to call from several threads at once (the
// registry checks a load's modules side by side); a report is a plain value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "livemod/error.h"
#include "livemod/image.h"
#include "livemod/manifest.h"

namespace livemod {

enum class severity : std::uint8_t { info, warning, error };
std::string_view to_string(severity s);

struct finding {
  severity level;
  errc code;            // 4xx for incompatibilities, 2xx for a bad manifest
  std::string subject;  // what it is about: "libc.so.6", "GLIBC_2.99", "cxx11_abi", a symbol
  std::string message;  // the cause, lowercase, with the values that matter
  std::string remedy;
};

// Where one NEEDED library was found, or every place tried.
struct resolved_library {
  std::string name;                  // "libc.so.6"
  std::string needed_by;             // the image whose DT_NEEDED named it
  std::optional<std::filesystem::path> path;  // empty when not found
  std::string found_by;              // "RUNPATH", "RPATH", "LD_LIBRARY_PATH", "ld.so.cache",
                                     // "default dirs", "path" (the name has a '/'), "host"
                                     // (already loaded by the host); "" when not found
  // Every candidate passed over, in order: all of them when not found; when found, those
  // skipped before it (another class or machine). The cache appears as /etc/ld.so.cache.
  std::vector<std::filesystem::path> tried;
  // Why each of `tried` was passed over, same order: "no such file", "wrong ELF class
  // (ELFCLASS32)", "wrong machine (aarch64, need x86_64)", "no entry for libz.so.1 ...".
  std::vector<std::string> tried_why;
};

struct check_report {
  image_info module;
  std::optional<manifest> module_manifest;
  std::filesystem::path host;
  build_fingerprint host_fingerprint;
  std::string host_fingerprint_source;  // "manifest", "inferred from image", "this process"
  std::vector<resolved_library> libraries;  // the module's dependency closure
  std::vector<finding> findings;            // most severe first, then in check order

  bool compatible() const;  // no finding of severity error
};

struct check_options {
  // The executable that will load the module; empty means this process (/proc/self/exe).
  std::filesystem::path host;
  // LD_LIBRARY_PATH as the host will see it; nullopt means this process's environment.
  std::optional<std::string> ld_library_path;
  // Accept modules without a manifest (plain shared libraries): the manifest finding becomes
  // a warning instead of an error.
  bool allow_missing_manifest = false;
};

// Errors (the check could not be made): those of read_image for the module or the host.
// Incompatibilities are findings, not errors.
result<check_report> check(const std::filesystem::path& module, const check_options& options = {});
// The same for a file the caller has just identified (identify_file), as the registry does
// while it resolves: `version` stands for the stat the check would make of the module.
result<check_report> check(const std::filesystem::path& module, const file_identity& version,
                           const check_options& options = {});

}  // namespace livemod
