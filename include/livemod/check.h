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
// Lifetime and threads: reentrant; a report is a plain value.
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
                                     // "default dirs", "host" (already loaded by the host)
  std::vector<std::filesystem::path> tried;   // in order, when not found
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

}  // namespace livemod
