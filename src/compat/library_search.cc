#include "compat/library_search.h"

#include <elf.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <system_error>

namespace livemod::compat {
namespace {

namespace fs = std::filesystem;

std::string hex(std::uint64_t value) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[value & 0xf]);
    value >>= 4;
  } while (value != 0);
  return "0x" + out;
}

// What glibc's open_verify decides about a candidate file.
struct probe_outcome {
  enum class verdict : std::uint8_t { accept, skip, stop };
  verdict what;
  std::string reason;
};

probe_outcome probe_candidate(const fs::path& path, const search_environment& env) {
  using verdict = probe_outcome::verdict;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    // open() failing with ENOENT (or ENOTDIR for a missing directory): try the next place.
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
      return {verdict::skip, "cannot open: " + ec.message()};
    }
    return {verdict::skip, "no such file"};
  }
  if (fs::is_directory(st)) return {verdict::skip, "a directory"};

  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // glibc remembers EACCES and goes on searching; so does this.
    return {verdict::skip, "cannot open: " + std::system_category().message(errno)};
  }
  std::array<unsigned char, sizeof(Elf64_Ehdr)> header{};
  in.read(reinterpret_cast<char*>(header.data()), static_cast<std::streamsize>(header.size()));
  const auto got = static_cast<std::size_t>(in.gcount());

  // The checks and their order follow open_verify: too short (shorter than this class's ELF
  // header, whatever the file's own class) and bad magic are fatal errors for ld.so, so the
  // search ends; another class or machine is "not this one, keep looking".
  const std::size_t ehdr_size =
      env.cls == elf_class::elf64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (got < ehdr_size) return {verdict::stop, "file too short (ld.so stops searching here)"};
  if (std::memcmp(header.data(), ELFMAG, SELFMAG) != 0) {
    return {verdict::stop, "invalid ELF header (ld.so stops searching here)"};
  }
  const int want_class = env.cls == elf_class::elf64 ? ELFCLASS64 : ELFCLASS32;
  if (header[EI_CLASS] != want_class) {
    return {verdict::skip, std::string("wrong ELF class (") +
                               (header[EI_CLASS] == ELFCLASS64 ? "ELFCLASS64" : "ELFCLASS32") +
                               ")"};
  }
  // The byte order must be this machine's: a fatal "ELF file data encoding not
  // little-endian" in glibc, checked before the machine.
  const bool native_little = std::endian::native == std::endian::little;
  if (header[EI_DATA] != (native_little ? ELFDATA2LSB : ELFDATA2MSB)) {
    return {verdict::stop, std::string("ELF file data encoding not ") +
                               (native_little ? "little" : "big") + "-endian"};
  }
  // e_type and e_machine are at the same offsets in both classes (16 and 18), in this
  // machine's byte order now that it matches.
  const auto half = [&](std::size_t at) {
    return native_little ? static_cast<std::uint16_t>(header[at] | (header[at + 1] << 8))
                         : static_cast<std::uint16_t>((header[at] << 8) | header[at + 1]);
  };
  const std::uint16_t machine = half(18);
  if (machine != env.machine) {
    return {verdict::skip, "wrong machine (" + machine_name(machine) + ", need " +
                               machine_name(env.machine) + ")"};
  }
  const std::uint16_t type = half(16);
  if (type != ET_DYN && type != ET_EXEC) {
    return {verdict::stop, "not a shared object (e_type " + std::to_string(type) + ")"};
  }
  return {verdict::accept, {}};
}

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// glibc's is_dst: `name` at `text` as $NAME (not followed by an identifier character) or
// ${NAME}; returns the length consumed after the '$', 0 if no match.
std::size_t match_dst(std::string_view text, std::string_view name) {
  if (text.starts_with('{')) {
    if (text.size() >= name.size() + 2 && text.substr(1, name.size()) == name &&
        text[name.size() + 1] == '}') {
      return name.size() + 2;
    }
    return 0;
  }
  if (text.starts_with(name) &&
      (text.size() == name.size() || !is_identifier_char(text[name.size()]))) {
    return name.size();
  }
  return 0;
}

fs::path origin_of(const fs::path& object) {
  // ld.so's l_origin: the directory of the name the object was opened by, made absolute but
  // not resolved through symlinks (elf/dl-object.c).
  std::error_code ec;
  fs::path absolute = fs::absolute(object, ec);
  if (ec) absolute = object;
  return absolute.parent_path();
}

std::string join(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

class searcher {
 public:
  searcher(std::string_view name, const search_environment& env) : name_(name), env_(env) {}

  // Tries `name` in each directory of `dirs`; true when found or when the search must stop.
  bool try_dirs(std::span<const std::string> dirs, const fs::path& origin, std::string_view rule) {
    for (const auto& dir : dirs) {
      std::string expanded = expand_dynamic_string_tokens(dir, origin, env_.lib, env_.platform);
      // fillin_rpath: an empty element is the working directory.
      if (expanded.empty()) expanded = "./";
      if (try_file(fs::path(join(expanded, name_)), rule)) return true;
    }
    return false;
  }

  bool try_file(const fs::path& candidate, std::string_view rule) {
    // ld.so would open the same file again with the same outcome; say it once.
    if (!seen_.insert(candidate.string()).second) return false;
    probe_outcome outcome = probe_candidate(candidate, env_);
    if (outcome.what == probe_outcome::verdict::accept) {
      result_.path = candidate;
      result_.found_by = std::string(rule);
      return true;
    }
    result_.tried.push_back({candidate, std::move(outcome.reason)});
    if (outcome.what == probe_outcome::verdict::stop) {
      result_.stopped = true;
      return true;
    }
    return false;
  }

  bool try_cache() {
    if (!env_.cache) {
      result_.tried.push_back(
          {env_.cache_path, env_.cache_problem.empty() ? "not read" : env_.cache_problem});
      return false;
    }
    const auto flags = ld_so_cache_flags(env_.cls, env_.machine);
    if (!flags) {
      result_.tried.push_back(
          {env_.cache_path, "no cache entry type is known for " + machine_name(env_.machine)});
      return false;
    }
    const auto hit = env_.cache->lookup(name_, *flags);
    if (!hit) {
      result_.tried.push_back({env_.cache_path, "no entry for " + name_ + " with flags " +
                                                    hex(static_cast<std::uint32_t>(*flags))});
      return false;
    }
    // _dl_map_object opens the cached path with open_verify like any other candidate and
    // falls through to the default directories when it is unusable.
    return try_file(fs::path(*hit), "ld.so.cache");
  }

  search_result take() { return std::move(result_); }

 private:
  std::string name_;
  const search_environment& env_;
  std::set<std::string> seen_;
  search_result result_;
};

}  // namespace

std::string multiarch_triplet(elf_class cls, std::uint16_t machine) {
  switch (machine) {
    case EM_X86_64: return cls == elf_class::elf64 ? "x86_64-linux-gnu" : "x86_64-linux-gnux32";
    case EM_AARCH64: return "aarch64-linux-gnu";
    case EM_386: return "i386-linux-gnu";
    case EM_ARM: return "arm-linux-gnueabihf";
    case EM_RISCV: return cls == elf_class::elf64 ? "riscv64-linux-gnu" : "";
    case EM_S390: return cls == elf_class::elf64 ? "s390x-linux-gnu" : "";
    case EM_PPC64: return "powerpc64le-linux-gnu";
    default: return "";
  }
}

search_environment search_environment::for_host(elf_class cls, std::uint16_t machine,
                                                fs::path executable,
                                                std::optional<std::string> ld_library_path) {
  search_environment env;
  env.cls = cls;
  env.machine = machine;
  env.executable = std::move(executable);
  env.ld_library_path = std::move(ld_library_path);

  // AT_PLATFORM as the kernel gives it to ld.so for each machine.
  switch (machine) {
    case EM_X86_64: env.platform = "x86_64"; break;
    case EM_386: env.platform = "i686"; break;
    case EM_AARCH64: env.platform = "aarch64"; break;
    default: env.platform = machine_name(machine); break;
  }

  // Debian builds glibc with slibdir=/lib/<triplet> and patches $LIB to "lib/<triplet>" (see
  // LD_DEBUG=libs); its system search path is then /lib/<t>:/usr/lib/<t>:/lib:/usr/lib.
  // Elsewhere 64-bit libraries live in lib64 (Fedora, SUSE: /lib64:/usr/lib64).
  const std::string triplet = multiarch_triplet(cls, machine);
  std::error_code ec;
  if (!triplet.empty() && fs::is_directory("/lib/" + triplet, ec)) {
    env.lib = "lib/" + triplet;
    env.default_dirs = {"/lib/" + triplet, "/usr/lib/" + triplet, "/lib", "/usr/lib"};
  } else if (cls == elf_class::elf64) {
    env.lib = "lib64";
    env.default_dirs = {"/lib64", "/usr/lib64", "/lib", "/usr/lib"};
  } else {
    env.lib = "lib";
    env.default_dirs = {"/lib", "/usr/lib"};
  }

  auto cache = ld_so_cache::load(env.cache_path);
  if (cache) {
    env.cache = std::make_shared<const ld_so_cache>(std::move(*cache));
  } else {
    env.cache_problem = "unusable: " + cache.error().cause();
    if (!cache.error().os_text().empty()) env.cache_problem += " (" + cache.error().os_text() + ")";
  }
  return env;
}

std::vector<std::string> split_search_path(std::string_view list, std::string_view separators) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = list.find_first_of(separators, start);
    out.emplace_back(list.substr(start, end == std::string_view::npos ? list.npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::string expand_dynamic_string_tokens(std::string_view text, const fs::path& origin,
                                         std::string_view lib, std::string_view platform) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') {
      out += text[i];
      continue;
    }
    const std::string_view rest = text.substr(i + 1);
    if (std::size_t n = match_dst(rest, "ORIGIN"); n != 0) {
      out += origin.string();
      i += n;
    } else if (n = match_dst(rest, "PLATFORM"); n != 0) {
      out += platform;
      i += n;
    } else if (n = match_dst(rest, "LIB"); n != 0) {
      out += lib;
      i += n;
    } else {
      out += '$';
    }
  }
  return out;
}

search_result find_library(std::string_view name, std::span<const search_object> chain,
                           const search_environment& env) {
  searcher s(name, env);
  if (chain.empty()) return s.take();
  const search_object& needing = chain.front();
  const fs::path needing_origin = origin_of(needing.path);

  // A name with a slash is a path: no search at all, only token expansion.
  if (name.find('/') != std::string_view::npos) {
    s.try_file(fs::path(expand_dynamic_string_tokens(name, needing_origin, env.lib, env.platform)),
               "path");
    return s.take();
  }

  // DT_RPATH up the loader chain, ignored altogether when the needing object has DT_RUNPATH
  // ("When the object has the RUNPATH information we don't use any RPATHs").
  if (needing.runpath.empty()) {
    for (const auto& object : chain) {
      if (s.try_dirs(object.rpath, origin_of(object.path), "RPATH")) return s.take();
    }
  }
  // LD_LIBRARY_PATH, split by _dl_init_paths at ":;"; its $ORIGIN is the executable's. Set
  // but empty, it is ignored altogether (`llp != NULL && *llp != '\0'`), not the working dir.
  if (env.ld_library_path && !env.ld_library_path->empty()) {
    const auto dirs = split_search_path(*env.ld_library_path, ":;");
    if (s.try_dirs(dirs, origin_of(env.executable), "LD_LIBRARY_PATH")) return s.take();
  }
  // DT_RUNPATH of the needing object only: unlike DT_RPATH it does not reach dependencies.
  if (s.try_dirs(needing.runpath, needing_origin, "RUNPATH")) return s.take();

  // -z nodeflib: neither the cache nor the default directories.
  if ((needing.flags_1 & DF_1_NODEFLIB) != 0) return s.take();
  if (s.try_cache()) return s.take();
  std::vector<std::string> defaults;
  for (const auto& dir : env.default_dirs) defaults.push_back(dir.string());
  s.try_dirs(defaults, needing_origin, "default dirs");
  return s.take();
}

}  // namespace livemod::compat
