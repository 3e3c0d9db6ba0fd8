#include "compat/host_scope.h"

#include <elf.h>

#include <algorithm>
#include <deque>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

namespace livemod::compat {
namespace {

namespace fs = std::filesystem;

std::string file_name(const image_info& image) { return image.path.filename().string(); }

bool starts_with_any(std::string_view text, std::initializer_list<std::string_view> prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](std::string_view p) { return text.starts_with(p); });
}

// The leading decimal number of `text`, or -1.
int leading_int(std::string_view text) {
  int value = 0;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && value < 100000; ++i) {
    value = value * 10 + (text[i] - '0');
  }
  return i == 0 ? -1 : value;
}

// The names sdk/fingerprint.h gives each architecture, so both sides compare equal.
std::string fingerprint_arch(const image_info& image) {
  switch (image.machine) {
    case EM_X86_64: return image.cls == elf_class::elf64 ? "x86_64" : "unknown";
    case EM_AARCH64: return "aarch64";
    case EM_386: return "i386";
    case EM_ARM: return "arm";
    case EM_RISCV: return image.cls == elf_class::elf64 ? "riscv64" : "unknown";
    default: return "unknown";
  }
}

}  // namespace

std::size_t load_scope::add(image_info image, std::optional<std::size_t> loader) {
  return add(std::make_shared<const image_info>(std::move(image)), loader);
}

std::size_t load_scope::add(std::shared_ptr<const image_info> image,
                            std::optional<std::size_t> loader) {
  const std::size_t root = objects_.size();
  const std::size_t first_resolution = resolutions_.size();
  {
    scope_object object;
    object.names.push_back(image->path.string());
    if (!image->soname.empty()) object.names.push_back(image->soname);
    object.loader = loader;
    object.root = root;
    index_symbols(*image);
    object.image_data = std::move(image);
    objects_.push_back(std::move(object));
  }

  // _dl_map_object_deps: a queue, each object's DT_NEEDED in order, each name loaded once.
  std::deque<std::size_t> queue{root};
  while (!queue.empty()) {
    const std::size_t current = queue.front();
    queue.pop_front();
    const std::vector<std::string> needed = objects_[current].image().needed;
    const std::string needed_by = file_name(objects_[current].image());
    for (const auto& name : needed) {
      if (auto hit = find_loaded(name)) {
        // Loaded before this root was added (by the host): say so once per root; a library
        // of this root's own closure was recorded when it was found.
        if (objects_[*hit].root != root) {
          const bool recorded = std::any_of(
              resolutions_.begin() + static_cast<std::ptrdiff_t>(first_resolution),
              resolutions_.end(), [&](const resolved_library& r) { return r.name == name; });
          if (!recorded) {
            resolved_library r;
            r.name = name;
            r.needed_by = needed_by;
            r.path = objects_[*hit].image().path;
            r.found_by = "host";
            resolutions_.push_back(std::move(r));
          }
        }
        continue;
      }
      const auto chain = chain_for(current);
      search_result found = find_library(name, chain, env_);
      resolved_library r;
      r.name = name;
      r.needed_by = needed_by;
      r.path = found.path;
      r.found_by = found.found_by;
      for (auto& attempt : found.tried) {
        r.tried.push_back(std::move(attempt.path));
        r.tried_why.push_back(std::move(attempt.outcome));
      }
      resolutions_.push_back(std::move(r));
      if (!found.path) continue;

      // The same file under another name (a symlink, another directory on the path) is the
      // object already loaded: _dl_map_object_from_fd compares device and inode.
      if (auto same = find_same_file(*found.path)) {
        objects_[*same].names.push_back(name);
        continue;
      }
      // A graph of modules shares its lower layers: every check reaches the same libraries,
      // read once per file version (read_image_shared).
      auto library = read_image_shared(*found.path);
      if (!library) {
        problems_.push_back({name, needed_by, std::move(library.error())});
        continue;
      }
      scope_object object;
      object.names.push_back(name);
      if (!(*library)->soname.empty() && (*library)->soname != name)
        object.names.push_back((*library)->soname);
      object.loader = current;
      object.root = root;
      index_symbols(**library);
      object.image_data = std::move(*library);
      objects_.push_back(std::move(object));
      queue.push_back(objects_.size() - 1);
    }
  }
  return root;
}

std::optional<std::size_t> load_scope::find_loaded(std::string_view name) const {
  for (std::size_t i = 0; i < objects_.size(); ++i) {
    const auto& names = objects_[i].names;
    if (std::find(names.begin(), names.end(), name) != names.end()) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> load_scope::find_same_file(const fs::path& path) const {
  for (std::size_t i = 0; i < objects_.size(); ++i) {
    std::error_code ec;
    if (fs::equivalent(objects_[i].image().path, path, ec) && !ec) return i;
  }
  return std::nullopt;
}

std::vector<search_object> load_scope::chain_for(std::size_t object) const {
  std::vector<search_object> chain;
  for (std::optional<std::size_t> at = object; at; at = objects_[*at].loader) {
    const image_info& image = objects_[*at].image();
    chain.push_back({image.path, image.rpath, image.runpath, image.flags_1});
    if (chain.size() > objects_.size()) break;  // a loader cycle cannot happen; never loop
  }
  return chain;
}

void load_scope::index_symbols(const image_info& image) {
  for (const auto& symbol : image.symbols) {
    if (!symbol.defined || symbol.binding == STB_LOCAL || symbol.name.empty()) continue;
    if (symbol.type == STT_SECTION || symbol.type == STT_FILE) continue;
    definitions_[symbol.name].push_back({symbol.version, symbol.version_hidden});
  }
}

bool load_scope::binds(const definition_index& index, std::string_view name,
                       std::string_view version) {
  const auto it = index.find(name);
  if (it == index.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [&](const definition& d) {
    if (version.empty()) return !d.hidden;
    return d.version == version || (d.version.empty() && !d.hidden);
  });
}

bool load_scope::defines(std::string_view name, std::string_view version) const {
  return binds(definitions_, name, version) ||
         (frozen_definitions_ && binds(*frozen_definitions_, name, version));
}

void load_scope::freeze() {
  resolutions_.clear();
  problems_.clear();
  if (definitions_.empty()) return;
  if (!frozen_definitions_) {
    // The first freeze (a host's scope, thousands of symbols) moves the index whole.
    frozen_definitions_ = std::make_shared<const definition_index>(std::move(definitions_));
    definitions_ = definition_index{};
    return;
  }
  auto merged = frozen_definitions_ ? std::make_shared<definition_index>(*frozen_definitions_)
                                    : std::make_shared<definition_index>();
  for (auto& [name, defs] : definitions_) {
    auto& into = (*merged)[name];
    into.insert(into.end(), std::make_move_iterator(defs.begin()), std::make_move_iterator(defs.end()));
  }
  definitions_ = definition_index{};  // clear() would keep the buckets, and copies copy them
  frozen_definitions_ = std::move(merged);
}

result<load_scope> open_host_scope(const fs::path& executable,
                                   std::optional<std::string> ld_library_path) {
  auto image = read_image(executable);
  if (!image) return fail(std::move(image.error()));
  load_scope scope(search_environment::for_host(image->cls, image->machine, executable,
                                                std::move(ld_library_path)));
  scope.add(std::move(*image), std::nullopt);
  return scope;
}

host_fingerprint infer_fingerprint(const image_info& executable) {
  host_fingerprint out;
  out.source = "inferred from image";
  build_fingerprint& fp = out.fingerprint;
  fp.arch = fingerprint_arch(executable);

  // .comment holds one NUL-terminated line per compiler that contributed code.
  int gcc_major = -1;
  int clang_major = -1;
  std::string_view comment = executable.comment;
  while (!comment.empty()) {
    const std::size_t end = comment.find_first_of(std::string_view("\0\n", 2));
    const std::string_view line = comment.substr(0, end);
    comment = end == std::string_view::npos ? std::string_view{} : comment.substr(end + 1);
    if (const std::size_t at = line.find("clang version "); at != std::string_view::npos) {
      clang_major = std::max(clang_major, leading_int(line.substr(at + 14)));
    } else if (line.starts_with("GCC: ")) {
      // "GCC: (Debian 12.2.0-14) 12.2.0": the release is the last word.
      const std::size_t space = line.find_last_of(' ');
      gcc_major = std::max(gcc_major, leading_int(line.substr(space + 1)));
    }
  }
  if (clang_major >= 0) {
    fp.compiler = "clang";
    fp.compiler_major = clang_major;
  } else if (gcc_major >= 0) {
    fp.compiler = "gcc";
    fp.compiler_major = gcc_major;
  } else {
    fp.compiler = "unknown";
    fp.compiler_major = 0;
    out.unknown_fields.push_back("compiler");
    out.unknown_fields.push_back("compiler_major");
  }

  bool new_abi = false, old_abi = false, debug = false, cxx = false;
  for (const auto& lib : executable.needed) {
    if (lib.starts_with("libasan.so")) fp.asan = true;
    if (lib.starts_with("libtsan.so")) fp.tsan = true;
    if (lib.starts_with("libstdc++.so") || lib.starts_with("libc++.so")) cxx = true;
  }
  for (const auto& symbol : executable.symbols) {
    const std::string& n = symbol.name;
    if (n == "__asan_init") fp.asan = true;
    if (n == "__tsan_init") fp.tsan = true;
    if (!n.starts_with("_Z")) continue;
    if (n.find("St7__cxx11") != std::string::npos) new_abi = true;
    // The old COW std::string and std::wstring: std::basic_string<char> is "Ss" and its
    // members mangle as _ZNSs / _ZNKSs; wstring as _ZNSbIw.
    if (starts_with_any(n, {"_ZNSs", "_ZNKSs", "_ZNSbIw", "_ZNKSbIw"})) old_abi = true;
    if (n.find("St7__debug") != std::string::npos) debug = true;
    if (starts_with_any(n, {"_ZNSt", "_ZNKSt", "_ZSt", "_ZTISt", "_ZTVSt", "_ZNSs", "_ZNKSs"})) {
      cxx = true;
    }
  }
  fp.cxx11_abi = new_abi ? 1 : old_abi ? 0 : -1;
  fp.glibcxx_debug = debug;
  if (!cxx && !debug) out.unknown_fields.push_back("glibcxx_debug");
  out.unknown_fields.push_back("exceptions");
  out.unknown_fields.push_back("rtti");
  return out;
}

host_fingerprint executable_fingerprint(const image_info& executable) {
  if (executable.manifest_json) {
    const std::string source = executable.path.filename().string();
    if (auto m = parse_manifest(*executable.manifest_json, source); m && m->fingerprint) {
      return {*m->fingerprint, "manifest", {}};
    }
    // A host is not a module: its manifest may carry only what a host needs, so the
    // fingerprint member is taken on its own when the whole does not validate.
    const auto json = nlohmann::json::parse(*executable.manifest_json, nullptr, false);
    if (json.is_object() && json.contains("fingerprint")) {
      if (auto fp = parse_fingerprint(json["fingerprint"].dump(), source)) {
        return {*fp, "manifest", {}};
      }
    }
  }
  return infer_fingerprint(executable);
}

}  // namespace livemod::compat
