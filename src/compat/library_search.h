// Finding a DT_NEEDED library the way glibc's ld.so does (elf/dl-load.c, _dl_map_object),
// without loading anything, and saying which rule found it or every place tried.
//
//   auto env = livemod::compat::search_environment::for_host(elf_class::elf64, EM_X86_64,
//                                                            "/usr/bin/server", {}, std::nullopt);
//   std::vector<search_object> chain = {{module_path, module.rpath, module.runpath, 0}};
//   search_result r = find_library("libz.so.1", chain, env);
//   if (r.path) std::cout << *r.path << " (" << r.found_by << ")\n";
//
// The order, as in _dl_map_object:
//   1. a name containing '/' is opened as is (after $ORIGIN/$LIB/$PLATFORM expansion);
//   2. DT_RPATH of the needing object, then of the object that loaded it and so on up to the
//      executable, but only when the needing object has no DT_RUNPATH;
//   3. LD_LIBRARY_PATH (split at ':' and ';', an empty element is the working directory; an
//      empty LD_LIBRARY_PATH is ignored);
//   4. DT_RUNPATH of the needing object only (it is not inherited);
//   5. /etc/ld.so.cache, then 6. the default directories; both skipped when the needing object
//      is linked with -z nodeflib (DF_1_NODEFLIB).
// A candidate is accepted only if it is an ELF file of the same class and machine; a mismatched
// one is skipped and the search goes on, as glibc's open_verify does. A file ld.so cannot use at
// all (not ELF, too short, the other byte order, an ET_REL) stops the search, as it stops ld.so
// ("invalid ELF header").
// Not modelled: the glibc-hwcaps and legacy hwcap subdirectories ld.so tries inside each
// directory (which ones depends on the CPU), LD_PRELOAD, and secure-execution (setuid) limits.
//
// Lifetime and threads: plain values and a pure function (it reads the file system).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compat/ld_so_cache.h"
#include "livemod/image.h"

namespace livemod::compat {

// One object of the chain ld.so walks: the needing object first, then the object that caused
// it to be loaded, up to the executable (link_map::l_loader).
struct search_object {
  std::filesystem::path path;        // as it was found: $ORIGIN is its directory
  std::vector<std::string> rpath;    // DT_RPATH, unexpanded
  std::vector<std::string> runpath;  // DT_RUNPATH, unexpanded
  std::uint64_t flags_1 = 0;         // DT_FLAGS_1 (DF_1_NODEFLIB)
};

// What ld.so knows before it looks for anything: the target, the environment, the cache.
struct search_environment {
  elf_class cls = elf_class::elf64;
  std::uint16_t machine = 0;
  std::optional<std::string> ld_library_path;  // nullopt: not set
  std::filesystem::path executable;            // $ORIGIN in LD_LIBRARY_PATH is its directory
  std::string lib;                             // $LIB
  std::string platform;                        // $PLATFORM
  std::filesystem::path cache_path = "/etc/ld.so.cache";
  // Null: missing or unusable. Shared: environments are copied with every scope, the cache not.
  std::shared_ptr<const ld_so_cache> cache;
  std::string cache_problem;         // why it is unusable, for `tried`
  std::vector<std::filesystem::path> default_dirs;

  // The environment ld.so would have for a process running `executable` on this machine:
  // $LIB, $PLATFORM and the default directories derived from the machine (Debian's multiarch
  // "x86_64-linux-gnu" when /lib/<triplet> exists, else lib64 for 64-bit), and the cache read
  // from /etc/ld.so.cache.
  static search_environment for_host(elf_class cls, std::uint16_t machine,
                                     std::filesystem::path executable,
                                     std::optional<std::string> ld_library_path);
};

// The multiarch triplet Debian uses for a machine ("x86_64-linux-gnu"), "" if unknown.
std::string multiarch_triplet(elf_class cls, std::uint16_t machine);

// Splits a search path list at any of `separators`; an empty element stays (it means the
// working directory to ld.so: glibc's fillin_rpath turns it into "./").
std::vector<std::string> split_search_path(std::string_view list, std::string_view separators);

// Expands $ORIGIN, ${ORIGIN}, $LIB, ${LIB}, $PLATFORM and ${PLATFORM} as glibc's
// _dl_dst_substitute: a name counts only when it is not followed by more identifier
// characters; other '$' text is kept verbatim.
std::string expand_dynamic_string_tokens(std::string_view text, const std::filesystem::path& origin,
                                         std::string_view lib, std::string_view platform);

struct search_attempt {
  std::filesystem::path path;  // a candidate file, or the cache file
  std::string outcome;         // "no such file", "wrong class (ELFCLASS32)", "no entry" ...
};

struct search_result {
  std::optional<std::filesystem::path> path;  // the accepted candidate
  std::string found_by;  // "path", "RPATH", "LD_LIBRARY_PATH", "RUNPATH", "ld.so.cache",
                         // "default dirs"; "" when not found
  std::vector<search_attempt> tried;  // everything passed over, in order
  // A candidate ld.so treats as a fatal error (not ELF, too short, the other byte order, not
  // ET_DYN/ET_EXEC) ended the search, as it ends _dl_map_object.
  bool stopped = false;
};

// Finds `name` for `chain` (the needing object first; must not be empty).
search_result find_library(std::string_view name, std::span<const search_object> chain,
                           const search_environment& env);

}  // namespace livemod::compat
