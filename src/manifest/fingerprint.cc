// Build fingerprints: reading them, comparing a module's with its host's, and this library's own.
#include "livemod/sdk/fingerprint.h"

#include <algorithm>
#include <climits>
#include <string>

#include "livemod/manifest.h"
#include "manifest/json_fields.h"

namespace livemod {
namespace manifest_detail {
namespace {
constexpr std::string_view k_rebuild =
    "rebuild the module with livemod_add_module, which writes the fingerprint";
}  // namespace

result<build_fingerprint> read_fingerprint(const json& value, const where& outer,
                                           std::string_view prefix) {
  // The build writes the fingerprint, so a bad one is fixed by building, not by editing.
  where w = outer;
  w.remedy = k_rebuild;
  if (!value.is_object()) {
    if (prefix.empty())
      return fail(errc::manifest_schema, std::string(w.source),
                  "the fingerprint is " + describe(value) + ", expected an object",
                  std::string(k_rebuild));
    return tl::unexpected(wrong_field(w, prefix, value, "an object"));
  }
  // Every field is required: the build always writes all of them, and a default would hide a
  // difference (a missing "asan" must not read as "built without asan"). Members this version
  // does not know are allowed, so a newer build's fingerprint still reads here.
  build_fingerprint fp;
  auto get = [&](std::string_view key, std::string_view expected) -> result<const json*> {
    const json* v = member(value, key);
    if (!v) return tl::unexpected(missing_field(w, member_path(prefix, key), expected));
    return v;
  };
  auto str = [&](std::string_view key, std::string& out) -> result<void> {
    auto v = get(key, "a string");
    if (!v) return tl::unexpected(v.error());
    auto s = read_string(**v, w, member_path(prefix, key));
    if (!s) return tl::unexpected(s.error());
    if (s->empty())
      return tl::unexpected(wrong_field(w, member_path(prefix, key), **v, "a non-empty string"));
    out = std::move(*s);
    return {};
  };
  auto integer = [&](std::string_view key, int min, int max, int& out) -> result<void> {
    auto v = get(key, "an integer");
    if (!v) return tl::unexpected(v.error());
    auto n = read_integer(**v, w, member_path(prefix, key), min, max);
    if (!n) return tl::unexpected(n.error());
    out = static_cast<int>(*n);
    return {};
  };
  auto boolean = [&](std::string_view key, bool& out) -> result<void> {
    auto v = get(key, "true or false");
    if (!v) return tl::unexpected(v.error());
    auto b = read_bool(**v, w, member_path(prefix, key));
    if (!b) return tl::unexpected(b.error());
    out = *b;
    return {};
  };

  for (auto r :
       {str("compiler", fp.compiler), integer("compiler_major", 0, INT_MAX, fp.compiler_major),
        integer("cxx11_abi", -1, 1, fp.cxx11_abi), str("arch", fp.arch),
        boolean("exceptions", fp.exceptions), boolean("rtti", fp.rtti),
        boolean("glibcxx_debug", fp.glibcxx_debug), boolean("asan", fp.asan),
        boolean("tsan", fp.tsan)}) {
    if (!r) return tl::unexpected(r.error());
  }
  return fp;
}

}  // namespace manifest_detail

result<build_fingerprint> parse_fingerprint(std::string_view json_text, std::string_view source) {
  using manifest_detail::json;
  json value = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded())
    return fail(errc::manifest_bad_json, std::string(source), "the fingerprint is not valid json",
                "rebuild the module with livemod_add_module, which writes the fingerprint");
  return manifest_detail::read_fingerprint(value, {source, "fingerprint field"}, "");
}

namespace {

std::string yes_no(bool b) { return b ? "true" : "false"; }

std::string abi_text(int v) {
  return v == 1 ? "1 (new)" : v == 0 ? "0 (old)" : "-1 (not libstdc++)";
}

}  // namespace

std::vector<fingerprint_difference> compare_fingerprints(const build_fingerprint& module,
                                                         const build_fingerprint& host) {
  using level = fingerprint_difference::severity;
  std::vector<fingerprint_difference> out;
  auto add = [&](level l, std::string field, std::string m, std::string h,
                 std::string consequence) {
    out.push_back({l, std::move(field), std::move(m), std::move(h), std::move(consequence)});
  };

  if (module.arch != host.arch)
    add(level::error, "arch", module.arch, host.arch,
        "machine code for another processor cannot run in this process");
  // -1 means "not known" (a C build, or not libstdc++): nothing to compare against.
  if (module.cxx11_abi != -1 && host.cxx11_abi != -1 && module.cxx11_abi != host.cxx11_abi)
    add(level::error, "cxx11_abi", abi_text(module.cxx11_abi), abi_text(host.cxx11_abi),
        "std::string and std::list have different layouts on each side");
  if (module.glibcxx_debug != host.glibcxx_debug)
    add(level::error, "glibcxx_debug", yes_no(module.glibcxx_debug), yes_no(host.glibcxx_debug),
        "standard containers have different layouts with _GLIBCXX_DEBUG");
  // A sanitized module calls into a runtime that must be loaded first, with the host; the
  // reverse works, only the module's own code goes unchecked.
  if (module.asan && !host.asan)
    add(level::error, "asan", "true", "false",
        "the module needs the addresssanitizer runtime, which the host does not load");
  if (module.tsan && !host.tsan)
    add(level::error, "tsan", "true", "false",
        "the module needs the threadsanitizer runtime, which the host does not load");
  if (module.compiler != host.compiler)
    add(level::warning, "compiler", module.compiler, host.compiler,
        "c++ types shared across the boundary may differ in layout or name mangling");
  if (module.exceptions != host.exceptions)
    add(level::warning, "exceptions", yes_no(module.exceptions), yes_no(host.exceptions),
        "an exception crossing between the two aborts the process");
  if (module.rtti != host.rtti)
    add(level::warning, "rtti", yes_no(module.rtti), yes_no(host.rtti),
        "dynamic_cast and typeid fail on types from the side built without rtti");
  if (!module.asan && host.asan)
    add(level::info, "asan", "false", "true",
        "addresssanitizer does not check the module's own code");
  if (!module.tsan && host.tsan)
    add(level::info, "tsan", "false", "true",
        "threadsanitizer does not see the module's own memory accesses");
  if (module.compiler == host.compiler && module.compiler_major != host.compiler_major)
    add(level::info, "compiler_major", std::to_string(module.compiler_major),
        std::to_string(host.compiler_major),
        "the c++ abi is stable across major versions of one compiler; recent standard library "
        "features may differ");
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return static_cast<int>(a.level) > static_cast<int>(b.level);
  });
  return out;
}

build_fingerprint library_fingerprint() {
  // Parsed once: the text is a constant of this build, so the answer never changes.
  static const build_fingerprint mine = [] {
    auto fp = parse_fingerprint(LIVEMOD_BUILD_FINGERPRINT_JSON, "livemod");
    // The macro is ours and tested; a default stands in only if it were ever broken.
    if (fp) return *fp;
    build_fingerprint unknown;
    unknown.compiler = unknown.arch = "unknown";
    return unknown;
  }();
  return mine;
}

}  // namespace livemod
