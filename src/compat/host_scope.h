// The symbols a host provides: its executable and the closure of its DT_NEEDED libraries, read
// as data, in the order ld.so builds the global scope (breadth-first, elf/dl-deps.c), with
// every defined dynamic symbol and its version. A module opened later is added to the same
// scope, so that a library the host already has is reused by name as ld.so reuses it.
//
//   auto scope = livemod::compat::open_host_scope("/usr/bin/server", std::nullopt);
//   if (!scope) return fail(scope.error());
//   std::size_t mod = scope->add(module_image, 0);          // the module, loaded by the host
//   bool ok = scope->defines("malloc", "GLIBC_2.2.5");
//
// And the host's build fingerprint: from its own manifest when it has one, else inferred from
// its image (infer_fingerprint).
//
// Lifetime and threads: a load_scope is a plain value; its methods are not synchronised. Copies
// are cheap once freeze() has run (images and the symbol index are shared, immutable), which is
// how one host scope serves every check against that host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compat/library_search.h"
#include "livemod/check.h"
#include "livemod/error.h"
#include "livemod/image.h"
#include "livemod/manifest.h"

namespace livemod::compat {

struct scope_object {
  // Shared: copying a scope (each check starts from a copy of its host's) copies no symbols.
  std::shared_ptr<const image_info> image_data;
  const image_info& image() const { return *image_data; }
  std::vector<std::string> names;     // names it answers to: those it was requested by, SONAME
  std::optional<std::size_t> loader;  // the object whose DT_NEEDED loaded it (l_loader)
  std::size_t root = 0;               // the object add() was called with
};

// A library that was found but could not be read.
struct load_problem {
  std::string name;
  std::string needed_by;
  error why;
};

class load_scope {
 public:
  explicit load_scope(search_environment env) : env_(std::move(env)) {}

  // Adds `image` (the executable, or a module being opened) and then the closure of its
  // DT_NEEDED entries, breadth-first. `loader` is the object that opens it (nullopt for the
  // executable): its DT_RPATH is searched after the image's own, as ld.so walks l_loader.
  // Returns the index of `image` in objects().
  std::size_t add(image_info image, std::optional<std::size_t> loader);
  // The same, for an image shared with others (read_image_shared): it is not copied.
  std::size_t add(std::shared_ptr<const image_info> image, std::optional<std::size_t> loader);

  const std::vector<scope_object>& objects() const { return objects_; }
  // Every DT_NEEDED resolution made so far, in order. A name already loaded is recorded once
  // per root, with found_by "host" when the host had it.
  const std::vector<resolved_library>& resolutions() const { return resolutions_; }
  const std::vector<load_problem>& problems() const { return problems_; }
  const search_environment& environment() const { return env_; }

  // The loaded object answering to `name` (a SONAME or a name it was requested by), as
  // _dl_name_match_p matches it before any search.
  std::optional<std::size_t> find_loaded(std::string_view name) const;

  // Whether some object defines `name` in a way a reference with `version` ("" for an
  // unversioned reference) binds to, by glibc's check_match: a versioned reference takes a
  // definition of that version, or an unversioned one that is not hidden; an unversioned
  // reference takes any definition that is not hidden (name@VER).
  bool defines(std::string_view name, std::string_view version) const;

  // Moves the symbol index built so far into an immutable part shared by copies, so copying
  // the scope no longer copies it, and forgets the resolutions and problems recorded so far
  // (a caller of a frozen scope reads only those its own add() records). add() still works.
  void freeze();

 private:
  // Views into the images' own symbol tables: the images are immutable and shared by every
  // copy of the scope that holds the index, so indexing a host's thousands of symbols copies
  // no string.
  struct definition {
    std::string_view version;
    bool hidden = false;
  };

  std::vector<search_object> chain_for(std::size_t object) const;
  std::optional<std::size_t> find_same_file(const std::filesystem::path& path) const;
  void index_symbols(const image_info& image);

  search_environment env_;
  std::vector<scope_object> objects_;
  std::vector<resolved_library> resolutions_;
  std::vector<load_problem> problems_;
  using definition_index = std::unordered_map<std::string_view, std::vector<definition>>;
  static bool binds(const definition_index& index, std::string_view name,
                    std::string_view version);
  std::shared_ptr<const definition_index> frozen_definitions_;
  definition_index definitions_;
};

// Reads `executable` and builds its global scope, with the search environment ld.so would
// have for it (search_environment::for_host). Errors: those of read_image for the executable.
result<load_scope> open_host_scope(const std::filesystem::path& executable,
                                   std::optional<std::string> ld_library_path);

// A host's fingerprint and how much of it is known.
struct host_fingerprint {
  build_fingerprint fingerprint;
  std::string source;                       // "manifest", "inferred from image", "this process"
  std::vector<std::string> unknown_fields;  // fields that hold defaults, not facts
};

// Infers a build fingerprint from an executable's image:
//   arch           from e_machine
//   compiler       from .comment: "clang version 14.0.6" wins over the "GCC: (...) 12.2.0"
//                  that crt files always bring; the highest GCC major otherwise
//   cxx11_abi      1 if a symbol mentions St7__cxx11, 0 if it uses the old std::string
//                  (_ZNSs, _ZNSbIw), else -1 (unknown)
//   asan, tsan     NEEDED libasan.so.* / libtsan.so.*, or __asan_init / __tsan_init
//   glibcxx_debug  a symbol in std::__debug (St7__debug)
// exceptions and rtti cannot be seen in an image: they keep their defaults and are listed in
// unknown_fields, as is "compiler" without a .comment and "glibcxx_debug" for a host with no
// C++ standard library symbols at all.
host_fingerprint infer_fingerprint(const image_info& executable);

// The fingerprint of the executable: its manifest's "fingerprint" when it has one ("manifest"),
// else infer_fingerprint ("inferred from image").
host_fingerprint executable_fingerprint(const image_info& executable);

}  // namespace livemod::compat
