// The preflight: everything ld.so would refuse, and everything that would make a loaded module
// misbehave or stick in memory, found by reading files (livemod/check.h).
#include "livemod/check.h"

#include <cxxabi.h>
#include <elf.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <tuple>

#include "compat/host_scope.h"
#include "compat/library_search.h"

namespace livemod {
namespace {

namespace fs = std::filesystem;

std::string file_name(const fs::path& path) { return path.filename().string(); }

std::string demangle(const std::string& name) {
  if (!name.starts_with("_Z")) return name;
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> text(
      abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status), &std::free);
  return status == 0 && text ? std::string(text.get()) : name;
}

// A GNU version name split into its family and number: "GLIBC_2.2.5" -> "GLIBC_", {2, 2, 5}.
// Names without a trailing dotted number ("GLIBC_PRIVATE") have no number.
struct version_name {
  std::string family;
  std::vector<unsigned long> parts;
};

version_name split_version(std::string_view name) {
  const std::size_t underscore = name.find_last_of('_');
  if (underscore == std::string_view::npos || underscore + 1 == name.size()) {
    return {std::string(name), {}};
  }
  std::vector<unsigned long> parts;
  unsigned long current = 0;
  bool digit_seen = false;
  for (const char c : name.substr(underscore + 1)) {
    if (c >= '0' && c <= '9') {
      current = current * 10 + static_cast<unsigned long>(c - '0');
      digit_seen = true;
    } else if (c == '.' && digit_seen) {
      parts.push_back(current);
      current = 0;
      digit_seen = false;
    } else {
      return {std::string(name), {}};
    }
  }
  if (!digit_seen) return {std::string(name), {}};
  parts.push_back(current);
  return {std::string(name.substr(0, underscore + 1)), std::move(parts)};
}

// The highest version of `family` among `defs`, compared part by part as numbers (so
// GLIBC_2.36 > GLIBC_2.4), or "" when there is none.
std::string highest_of_family(const std::vector<std::string>& defs, const std::string& family) {
  std::string best;
  std::vector<unsigned long> best_parts;
  for (const auto& def : defs) {
    version_name v = split_version(def);
    if (v.family != family || v.parts.empty()) continue;
    if (best.empty() || std::lexicographical_compare(best_parts.begin(), best_parts.end(),
                                                     v.parts.begin(), v.parts.end())) {
      best = def;
      best_parts = std::move(v.parts);
    }
  }
  return best;
}

bool is_toolchain_family(std::string_view family) {
  return family == "GLIBC_" || family == "GLIBCXX_" || family == "CXXABI_" || family == "GCC_";
}

std::string class_name(elf_class cls) {
  return cls == elf_class::elf64 ? "ELFCLASS64" : "ELFCLASS32";
}

class checker {
 public:
  checker(check_report& report, const check_options& options,
          std::shared_ptr<const image_info> module)
      : report_(report),
        options_(options),
        module_(std::move(module)),
        module_name_(file_name(report.module.path)) {}

  void add(severity level, errc code, std::string subject, std::string message,
           std::string remedy) {
    report_.findings.push_back(
        {level, code, std::move(subject), std::move(message), std::move(remedy)});
  }

  void check_manifest() {
    if (!report_.module.manifest_json) {
      add(options_.allow_missing_manifest ? severity::warning : severity::error,
          errc::manifest_missing, "manifest",
          module_name_ + ": has no livemod manifest (no .livemod.manifest section)",
          "build it with livemod_add_module(), or allow plain shared libraries "
          "(allow_missing_manifest)");
      return;
    }
    auto parsed = parse_manifest(*report_.module.manifest_json, module_name_);
    if (!parsed) {
      const error& e = parsed.error();
      add(severity::error, e.code(), "manifest",
          (e.file().empty() ? module_name_ : e.file()) + ": " + e.cause(), e.remedy());
      return;
    }
    report_.module_manifest = std::move(*parsed);
    const std::uint32_t abi = report_.module_manifest->abi;
    if (abi > supported_abi_version()) {
      add(severity::error, errc::abi_unsupported, "abi",
          module_name_ + ": its manifest asks for livemod abi " + std::to_string(abi) +
              " but this livemod supports up to " + std::to_string(supported_abi_version()),
          "upgrade livemod in the host, or build the module with the host's livemod sdk");
    }
  }

  // True when the module can be mapped by the host at all; the other checks are noise if not.
  bool check_machine(const image_info& host) {
    const image_info& m = report_.module;
    bool ok = true;
    if (m.cls != host.cls) {
      add(severity::error, errc::class_mismatch, class_name(m.cls),
          module_name_ + ": is " + class_name(m.cls) + " but the host " + file_name(report_.host) +
              " is " + class_name(host.cls),
          "build the module for the host's word size");
      ok = false;
    }
    if (m.machine != host.machine || m.little_endian != host.little_endian) {
      add(severity::error, errc::arch_mismatch, m.machine_name,
          module_name_ + ": is built for " + m.machine_name +
              (m.little_endian == host.little_endian ? ""
               : m.little_endian                     ? " (little-endian)"
                                                     : " (big-endian)") +
              " but the host " + file_name(report_.host) + " is " + host.machine_name,
          "build the module for " + host.machine_name);
      ok = false;
    }
    if ((m.flags_1 & DF_1_NOOPEN) != 0) {
      add(severity::error, errc::incompatible, "DF_1_NOOPEN",
          module_name_ + ": is marked DF_1_NOOPEN, which dlopen refuses",
          "link it without -z noopen");
    }
    return ok;
  }

  void check_fingerprint(const compat::host_fingerprint& host, bool machine_ok) {
    report_.host_fingerprint = host.fingerprint;
    report_.host_fingerprint_source = host.source;
    if (!report_.module_manifest || !report_.module_manifest->fingerprint) return;
    const auto diffs =
        compare_fingerprints(*report_.module_manifest->fingerprint, host.fingerprint);
    for (const auto& d : diffs) {
      // Fields an image cannot show are defaults, not facts: comparing them would invent
      // differences (or hide them) for a host without a manifest.
      const auto& unknown = host.unknown_fields;
      if (std::find(unknown.begin(), unknown.end(), d.field) != unknown.end()) continue;
      // arch_mismatch already said it, from the ELF header itself.
      if (d.field == "arch" && !machine_ok) continue;
      const severity level = d.level == fingerprint_difference::severity::error ? severity::error
                             : d.level == fingerprint_difference::severity::warning
                                 ? severity::warning
                                 : severity::info;
      add(level, errc::fingerprint_mismatch, d.field,
          module_name_ + ": built with " + d.field + " " + d.module_value + " but the host (" +
              host.source + ") has " + d.host_value +
              (d.consequence.empty() ? "" : ": " + d.consequence),
          "build the module and the host with the same compiler and flags");
    }
  }

  // `scope` holds the host's global scope already; the module joins it, loaded by the
  // executable.
  void check_libraries(compat::load_scope& scope) {
    const std::size_t first_resolution = scope.resolutions().size();
    const std::size_t first_problem = scope.problems().size();
    const std::size_t module = scope.add(module_, 0);

    report_.libraries.assign(
        scope.resolutions().begin() + static_cast<std::ptrdiff_t>(first_resolution),
        scope.resolutions().end());
    for (const auto& lib : report_.libraries) {
      if (lib.path) continue;
      std::string places;
      for (std::size_t i = 0; i < lib.tried.size(); ++i) {
        places += (i == 0 ? "" : ", ") + lib.tried[i].string();
        if (i < lib.tried_why.size() && lib.tried_why[i] != "no such file") {
          places += " (" + lib.tried_why[i] + ")";
        }
      }
      add(severity::error, errc::needed_not_found, lib.name,
          lib.needed_by + ": needs " + lib.name + ", which ld.so would not find" +
              (places.empty() ? "" : "; tried " + places),
          "install it, or add its directory to the module's RUNPATH (-Wl,-rpath,'$ORIGIN/...') "
          "or to LD_LIBRARY_PATH");
    }
    for (std::size_t i = first_problem; i < scope.problems().size(); ++i) {
      const auto& p = scope.problems()[i];
      add(severity::error, p.why.code(), p.name,
          p.needed_by + ": needs " + p.name + ", found at " + p.why.file() +
              " but unreadable: " + p.why.cause(),
          p.why.remedy());
    }

    // An undefined symbol of an object whose own dependency is missing most likely lives in
    // that dependency: said as a note, not as a second error about the same cause.
    missing_by_needer_.clear();
    for (const auto& lib : report_.libraries) {
      if (!lib.path) missing_by_needer_[lib.needed_by].push_back(lib.name);
    }

    std::set<std::string> unavailable;  // versions already reported missing
    const auto& objects = scope.objects();
    for (std::size_t i = module; i < objects.size(); ++i) {
      check_versions(scope, objects[i].image(), unavailable);
    }
    for (std::size_t i = module; i < objects.size(); ++i) {
      check_symbols(scope, objects[i].image(), unavailable);
    }
  }

  // _dl_check_map_versions: every non-weak version an object needs from a library must be
  // among that library's version definitions.
  void check_versions(const compat::load_scope& scope, const image_info& object,
                      std::set<std::string>& unavailable) {
    const std::string who = file_name(object.path);
    for (const auto& need : object.version_needs) {
      const auto provider = scope.find_loaded(need.file);
      if (!provider) continue;  // needed_not_found (or a verneed without DT_NEEDED) says it
      const image_info& lib = scope.objects()[*provider].image();
      if (lib.version_defs.empty()) {
        // glibc only warns here ("no version information available") and binds anyway.
        add(severity::warning, errc::symbol_version_unavailable, need.file,
            who + ": needs versioned symbols from " + need.file + " but " + lib.path.string() +
                " has no version information",
            "check that " + lib.path.string() + " is the library the module was built against");
        continue;
      }
      for (std::size_t v = 0; v < need.versions.size(); ++v) {
        const std::string& version = need.versions[v];
        if (v < need.weak.size() && need.weak[v]) continue;  // VER_FLG_WEAK: not required
        const auto& defs = lib.version_defs;
        // The first entry is the base one (the file's own name), not a version.
        if (std::find(defs.begin() + 1, defs.end(), version) != defs.end()) continue;
        unavailable.insert(version);
        const version_name wanted = split_version(version);
        const std::string best = highest_of_family(defs, wanted.family);
        std::string has;
        if (!best.empty()) {
          has = "provides up to " + best;
        } else {
          has = "provides no " + wanted.family + " version (it has";
          for (std::size_t d = 1; d < defs.size() && d <= 6; ++d) has += " " + defs[d];
          has += defs.size() > 7 ? " ...)" : ")";
        }
        add(severity::error, errc::symbol_version_unavailable, version,
            who + ": needs " + version + " from " + need.file + " but " + lib.path.string() + " " +
                has,
            is_toolchain_family(wanted.family)
                ? "rebuild the module on an older system or run it on a newer one"
                : "give the host a " + need.file + " that defines " + version +
                      ", or rebuild the module against the one it has");
      }
    }
  }

  // `ldd -r` without running anything: every strong undefined reference must bind somewhere
  // in the host's global scope or the module's own.
  void check_symbols(const compat::load_scope& scope, const image_info& object,
                     const std::set<std::string>& unavailable) {
    const std::string who = file_name(object.path);
    for (const auto& symbol : object.symbols) {
      if (symbol.defined || symbol.binding != STB_GLOBAL || symbol.name.empty()) continue;
      // A version already reported missing explains the symbol too.
      if (!symbol.version.empty() && unavailable.contains(symbol.version)) continue;
      if (scope.defines(symbol.name, symbol.version)) continue;
      std::string shown = demangle(symbol.name);
      if (!symbol.version.empty()) shown += "@" + symbol.version;
      if (const auto missing = missing_by_needer_.find(who); missing != missing_by_needer_.end()) {
        std::string names;
        for (const auto& name : missing->second) names += (names.empty() ? "" : ", ") + name;
        add(severity::info, errc::unresolved_symbol, symbol.name,
            who + ": undefined symbol " + shown + " is not defined by the libraries found; " +
                names + ", which ld.so would not find, may define it",
            "make " + names + " findable first");
        continue;
      }
      add(severity::error, errc::unresolved_symbol, symbol.name,
          who + ": undefined symbol " + shown +
              " is not defined by the host or any library the module loads",
          "link the module with the library that defines it (-Wl,-z,defs finds this at build "
          "time), or export it from the host (-rdynamic)");
    }
  }

  void check_pins() {
    for (const auto& pin : report_.module.pins) {
      switch (pin.why) {
        case image_pin::reason::gnu_unique_symbol:
          add(severity::warning, errc::image_pinned, pin.detail,
              module_name_ + ": cannot be unloaded: STB_GNU_UNIQUE symbol " + demangle(pin.detail),
              "build with -fno-gnu-unique (livemod_add_module does)");
          break;
        case image_pin::reason::tls_symbol:
          add(severity::warning, errc::image_pinned, pin.detail,
              module_name_ +
                  ": stays loaded until every thread that used its thread_local "
                  "objects has exited (" +
                  demangle(pin.detail) + ")",
              "avoid thread_local objects with destructors in modules, or keep them in the host");
          break;
        case image_pin::reason::nodelete_flag:
          add(severity::warning, errc::image_pinned, pin.detail,
              module_name_ + ": cannot be unloaded: it is marked " + pin.detail,
              "link it without -z nodelete");
          break;
      }
    }
  }

 private:
  check_report& report_;
  const check_options& options_;
  std::shared_ptr<const image_info> module_;  // what report_.module copies, shared with the scope
  std::string module_name_;
  std::map<std::string, std::vector<std::string>> missing_by_needer_;  // needed_by -> names
};

// What a check needs of its host: the image and the global scope of its DT_NEEDED closure.
// Both are the same for every module checked against one host, and building them costs
// milliseconds (libstdc++ alone has thousands of symbols): they are built once per host file
// state and search environment, and each check copies the scope, which shares the images and
// the symbol index (load_scope::freeze). A library of the host replaced on disk while the
// process runs is not seen until the host file changes; for this process that is the truth
// anyway, since the old library is what is mapped.
struct host_facts {
  std::shared_ptr<const image_info> image;
  std::shared_ptr<const compat::load_scope> scope;
};

result<host_facts> host_facts_for(const fs::path& host_path,
                                  std::optional<std::string> ld_library_path) {
  struct stat st {};
  const bool identified = ::stat(host_path.c_str(), &st) == 0;
  using key = std::tuple<std::string, dev_t, ino_t, off_t, long, long, std::optional<std::string>>;
  const key k{host_path.string(), st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec,
              st.st_mtim.tv_nsec, ld_library_path};
  static std::mutex mutex;
  static std::map<key, host_facts> cache;
  if (identified) {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(k); it != cache.end()) return it->second;
  }
  // The checks of one load run side by side and all miss at first: one builds the facts while
  // the others wait for them, rather than each building its own (milliseconds each).
  static std::mutex building;
  std::lock_guard build_lock(building);
  if (identified) {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(k); it != cache.end()) return it->second;
  }
  auto image = read_image(host_path);
  if (!image) return fail(std::move(image.error()));
  host_facts facts;
  facts.image = std::make_shared<const image_info>(std::move(*image));
  compat::load_scope scope(compat::search_environment::for_host(
      facts.image->cls, facts.image->machine, host_path, std::move(ld_library_path)));
  scope.add(*facts.image, std::nullopt);
  scope.freeze();
  facts.scope = std::make_shared<const compat::load_scope>(std::move(scope));
  if (identified) {
    std::lock_guard lock(mutex);
    if (cache.size() >= 8) cache.erase(cache.begin());  // hosts are few; bound it all the same
    cache.emplace(k, facts);
  }
  return facts;
}

// The executable this process runs, once: it cannot change while the process runs.
const fs::path& this_executable() {
  static const fs::path path = [] {
    std::error_code ec;
    fs::path p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path("/proc/self/exe") : p;
  }();
  return path;
}

// This process's own facts, per LD_LIBRARY_PATH, without a stat per check: the executable
// and libraries it has mapped are what it runs, whatever is on disk now.
result<host_facts> this_process_facts(std::optional<std::string> ld_library_path) {
  static std::mutex mutex;
  static std::map<std::optional<std::string>, host_facts> cache;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(ld_library_path); it != cache.end()) return it->second;
  }
  auto facts = host_facts_for(this_executable(), ld_library_path);
  if (facts) {
    std::lock_guard lock(mutex);
    if (cache.size() < 8) cache.emplace(std::move(ld_library_path), *facts);
  }
  return facts;
}

result<check_report> run_check(const fs::path& module, const file_identity* version,
                               const check_options& options) {
  // Shared with resolve, which read the same file for its manifest moments ago, and with the
  // next check of this unchanged file.
  auto module_image = version != nullptr ? read_image_shared(module, *version)
                                         : read_image_shared(module);
  if (!module_image) return fail(std::move(module_image.error()));

  const bool this_process = options.host.empty();
  const fs::path& host_path = this_process ? this_executable() : options.host;
  std::optional<std::string> ld_library_path = options.ld_library_path;
  if (!ld_library_path) {
    if (const char* env = std::getenv("LD_LIBRARY_PATH")) ld_library_path = env;
  }
  auto host = this_process ? this_process_facts(std::move(ld_library_path))
                           : host_facts_for(host_path, std::move(ld_library_path));
  if (!host) return fail(std::move(host.error()));
  const image_info* host_image = host->image.get();

  check_report report;
  report.module = **module_image;
  report.host = host_path;

  checker c(report, options, std::move(*module_image));
  c.check_manifest();
  const bool machine_ok = c.check_machine(*host_image);
  c.check_fingerprint(this_process
                          ? compat::host_fingerprint{library_fingerprint(), "this process", {}}
                          : compat::executable_fingerprint(*host_image),
                      machine_ok);
  if (machine_ok) {
    compat::load_scope scope = *host->scope;
    c.check_libraries(scope);
  }
  c.check_pins();

  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const finding& a, const finding& b) { return a.level > b.level; });
  return report;
}

}  // namespace

std::string_view to_string(severity s) {
  switch (s) {
    case severity::info: return "info";
    case severity::warning: return "warning";
    case severity::error: return "error";
  }
  return "unknown";
}

bool check_report::compatible() const {
  return std::none_of(findings.begin(), findings.end(),
                      [](const finding& f) { return f.level == severity::error; });
}

namespace {

result<check_report> guarded_check(const fs::path& module, const file_identity* version,
                                   const check_options& options) {
  // Nothing may escape the public API; what could throw here is allocation and the standard
  // library's own failures, reported as such rather than terminating the host.
  try {
    return run_check(module, version, options);
  } catch (const std::exception& e) {
    return fail(errc::io_error, module.string(),
                std::string("the check could not complete: ") + e.what());
  }
}

}  // namespace

result<check_report> check(const fs::path& module, const check_options& options) {
  return guarded_check(module, nullptr, options);
}

result<check_report> check(const fs::path& module, const file_identity& version,
                           const check_options& options) {
  return guarded_check(module, &version, options);
}

}  // namespace livemod
