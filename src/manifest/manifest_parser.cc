// The manifest parser and validator, schema v1 (livemod/manifest.h documents the schema).
// Validation is strict and fails on the first problem, naming the field: a manifest is written
// by hand once and read by machines many times, so a typo must stop the build's `livemod check`.
#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "livemod/manifest.h"
#include "livemod/sdk/module.h"
#include "manifest/json_fields.h"

namespace livemod {
namespace {

using manifest_detail::json;
using manifest_detail::where;

constexpr std::size_t k_max_name = 64;
constexpr std::size_t k_max_symbol = 255;
constexpr std::string_view k_name_rule =
    "a name of lowercase letters, digits, '_', '.' and '-', not starting with '.' or '-', "
    "at most 64 characters";

constexpr std::array<std::string_view, 5> k_permissions = {"filesystem.read", "filesystem.write",
                                                           "network", "process.spawn", "threads"};

constexpr std::array<std::string_view, 10> k_top_level = {
    "schema",       "name",       "version",      "abi",         "fingerprint",
    "dependencies", "interfaces", "state_schema", "permissions", "entry_points"};
constexpr std::array<std::string_view, 3> k_dependency_members = {"name", "version", "kind"};
constexpr std::array<std::string_view, 4> k_interface_members = {"id", "name", "methods",
                                                                 "layout_hash"};
constexpr std::array<std::string_view, 4> k_entry_point_members = {"on_load", "on_unload",
                                                                   "save_state", "restore_state"};

bool is_c_identifier(std::string_view s) {
  if (s.empty() || s.size() > k_max_symbol) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

error bad_json(std::string_view source, std::string_view text, const json::parse_error& e) {
  // nlohmann counts the character it stopped at from 1 (end of input counts as one): make it a
  // 0-based offset, and give the line and column a text editor would show for it.
  std::size_t offset = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < offset; ++i)
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  // Its text is "[json.exception.parse_error.101] parse error at line 1, column 5: syntax
  // error ...": the id and its own position (which counts differently) are dropped.
  std::string reason = e.what();
  if (auto p = reason.find("parse error"); p != std::string::npos) {
    reason = reason.substr(p);
    if (auto colon = reason.find(": "); colon != std::string::npos)
      reason = reason.substr(colon + 2);
  }
  return error(errc::manifest_bad_json, std::string(source),
               "manifest is not valid json at byte " + std::to_string(offset) + " (line " +
                   std::to_string(line) + ", column " + std::to_string(offset - line_start + 1) +
                   "): " + reason,
               std::string(manifest_detail::k_fix_manifest));
}

// nlohmann keeps the last of duplicated keys silently; the parser callback sees each key, so it
// can notice a member written twice (two "version"s are a mistake, whichever was meant).
class duplicate_finder {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    using ev = json::parse_event_t;
    switch (event) {
      case ev::object_start:
        frames_.push_back({false, 0, {}, {}});
        break;
      case ev::array_start:
        frames_.push_back({true, 0, {}, {}});
        break;
      case ev::key: {
        frame& top = frames_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second && first_duplicate_.empty()) first_duplicate_ = path();
        break;
      }
      case ev::object_end:
      case ev::array_end:
        frames_.pop_back();
        element_done();
        break;
      case ev::value:
        element_done();
        break;
    }
    return true;
  }
  // "dependencies[0].name", or "" when every key is unique.
  const std::string& first_duplicate() const { return first_duplicate_; }

 private:
  struct frame {
    bool array;
    std::size_t index;
    std::string key;
    std::set<std::string> keys;
  };
  void element_done() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }
  std::string path() const {
    std::string out;
    for (const frame& f : frames_)
      out = f.array ? manifest_detail::element_path(out, f.index)
                    : manifest_detail::member_path(out, f.key);
    return out;
  }
  std::vector<frame> frames_;
  std::string first_duplicate_;
};

// Reads one manifest; each step returns the first error it finds.
class reader {
 public:
  explicit reader(std::string_view source) : source_(source), where_{source_, "manifest field"} {}

  result<manifest> read(const json& root) {
    if (!root.is_object())
      return fail(errc::manifest_schema, std::string(source_),
                  "the manifest is " + manifest_detail::describe(root) + ", expected an object",
                  std::string(manifest_detail::k_fix_manifest));
    if (auto r = manifest_detail::check_members(root, where_, "", k_top_level, true); !r)
      return tl::unexpected(r.error());
    manifest m;
    for (auto step :
         {&reader::read_schema, &reader::read_name, &reader::read_version, &reader::read_abi,
          &reader::read_fingerprint, &reader::read_dependencies, &reader::read_interfaces,
          &reader::read_state_schema, &reader::read_permissions, &reader::read_entry_points}) {
      if (auto r = (this->*step)(root, m); !r) return tl::unexpected(r.error());
    }
    return m;
  }

 private:
  using step_result = result<void>;

  error schema_error(std::string cause) const {
    return error(errc::manifest_schema, std::string(source_), std::move(cause),
                 std::string(manifest_detail::k_fix_manifest));
  }

  step_result read_schema(const json& root, manifest& m) {
    const json* v = manifest_detail::member(root, "schema");
    if (!v) return tl::unexpected(manifest_detail::missing_field(where_, "schema", "1"));
    auto n = manifest_detail::read_unsigned(*v, where_, "schema", 1, UINT32_MAX);
    if (!n) return tl::unexpected(n.error());
    if (*n != 1)
      // A newer schema may mean things this reader would silently drop: refuse it plainly.
      return fail(errc::manifest_schema, std::string(source_),
                  "manifest field \"schema\" is " + std::to_string(*n) +
                      ", expected 1 (the only schema this livemod reads)",
                  "upgrade livemod, or write the manifest for schema 1");
    m.schema = 1;
    return {};
  }

  step_result read_name(const json& root, manifest& m) {
    const json* v = manifest_detail::member(root, "name");
    if (!v) return tl::unexpected(manifest_detail::missing_field(where_, "name", k_name_rule));
    auto s = manifest_detail::read_string(*v, where_, "name", k_name_rule);
    if (!s) return tl::unexpected(s.error());
    if (!valid_module_name(*s))
      return tl::unexpected(manifest_detail::wrong_field(where_, "name", *v, k_name_rule));
    m.name = std::move(*s);
    return {};
  }

  step_result read_version(const json& root, manifest& m) {
    constexpr std::string_view expected = "a semantic version like \"1.2.0\"";
    const json* v = manifest_detail::member(root, "version");
    if (!v) return tl::unexpected(manifest_detail::missing_field(where_, "version", expected));
    auto s = manifest_detail::read_string(*v, where_, "version", expected);
    if (!s) return tl::unexpected(s.error());
    auto ver = parse_semver(*s);
    if (!ver)
      return fail(errc::manifest_bad_version, std::string(source_),
                  "manifest field \"version\": " + ver.error().cause(), ver.error().remedy());
    m.version = std::move(*ver);
    return {};
  }

  step_result read_abi(const json& root, manifest& m) {
    const json* v = manifest_detail::member(root, "abi");
    if (!v)
      return tl::unexpected(manifest_detail::missing_field(
          where_, "abi", "the livemod abi version the module was written for, like 1"));
    auto n = manifest_detail::read_unsigned(*v, where_, "abi", 1, UINT32_MAX);
    if (!n) return tl::unexpected(n.error());
    m.abi = static_cast<std::uint32_t>(*n);
    return {};
  }

  step_result read_fingerprint(const json& root, manifest& m) {
    const json* v = manifest_detail::member(root, "fingerprint");
    if (!v) return {};
    auto fp = manifest_detail::read_fingerprint(*v, where_, "fingerprint");
    if (!fp) return tl::unexpected(fp.error());
    m.fingerprint = std::move(*fp);
    return {};
  }

  // The array member `key`, absent meaning empty.
  result<const json*> optional_array(const json& root, std::string_view key) const {
    const json* v = manifest_detail::member(root, key);
    if (v && !v->is_array())
      return tl::unexpected(manifest_detail::wrong_field(where_, key, *v, "an array"));
    return v;
  }

  step_result read_dependencies(const json& root, manifest& m) {
    auto list = optional_array(root, "dependencies");
    if (!list) return tl::unexpected(list.error());
    if (!*list) return {};
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < (*list)->size(); ++i) {
      const json& item = (**list)[i];
      std::string path = manifest_detail::element_path("dependencies", i);
      if (!item.is_object())
        return tl::unexpected(manifest_detail::wrong_field(
            where_, path, item, "an object like {\"name\": \"math\", \"version\": \"^1.2\"}"));
      if (auto r = manifest_detail::check_members(item, where_, path, k_dependency_members, true);
          !r)
        return tl::unexpected(r.error());
      dependency d;

      std::string name_path = manifest_detail::member_path(path, "name");
      const json* name = manifest_detail::member(item, "name");
      if (!name)
        return tl::unexpected(manifest_detail::missing_field(where_, name_path, k_name_rule));
      auto s = manifest_detail::read_string(*name, where_, name_path, k_name_rule);
      if (!s) return tl::unexpected(s.error());
      if (!valid_module_name(*s))
        return tl::unexpected(manifest_detail::wrong_field(where_, name_path, *name, k_name_rule));
      if (*s == m.name)
        return tl::unexpected(schema_error("manifest field \"" + name_path + "\" is \"" + *s +
                                           "\", the module's own name: a module cannot depend "
                                           "on itself"));
      if (!seen.insert(*s).second)
        return tl::unexpected(schema_error("manifest field \"" + name_path + "\" is \"" + *s +
                                           "\", already listed before it: each dependency "
                                           "appears once, its ranges joined with \"||\""));
      d.name = std::move(*s);

      std::string version_path = manifest_detail::member_path(path, "version");
      if (const json* range = manifest_detail::member(item, "version")) {
        auto text = manifest_detail::read_string(*range, where_, version_path,
                                                 "a version range like \"^1.2\"");
        if (!text) return tl::unexpected(text.error());
        auto r = parse_version_range(*text);
        if (!r)
          return fail(errc::manifest_bad_range, std::string(source_),
                      "manifest field \"" + version_path + "\": " + r.error().cause(),
                      r.error().remedy());
        d.range = std::move(*r);
      }

      std::string kind_path = manifest_detail::member_path(path, "kind");
      if (const json* kind = manifest_detail::member(item, "kind")) {
        constexpr std::string_view expected = "one of \"required\", \"weak\", \"upward\"";
        auto k = manifest_detail::read_string(*kind, where_, kind_path, expected);
        if (!k) return tl::unexpected(k.error());
        if (*k == "required")
          d.kind = dependency_kind::required;
        else if (*k == "weak")
          d.kind = dependency_kind::weak;
        else if (*k == "upward")
          d.kind = dependency_kind::upward;
        else
          return tl::unexpected(manifest_detail::wrong_field(where_, kind_path, *kind, expected));
      }
      m.dependencies.push_back(std::move(d));
    }
    return {};
  }

  result<std::uint64_t> read_layout_hash(const json& v, const std::string& path) const {
    constexpr std::string_view expected =
        "a hex string \"0x...\" of 1 to 16 digits or an unsigned integer";
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (!v.is_string())
      return tl::unexpected(manifest_detail::wrong_field(where_, path, v, expected));
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() < 3 || s.size() > 18 || (s.compare(0, 2, "0x") != 0 && s.compare(0, 2, "0X") != 0))
      return tl::unexpected(manifest_detail::wrong_field(where_, path, v, expected));
    std::uint64_t value = 0;
    for (std::size_t i = 2; i < s.size(); ++i) {
      char c = s[i];
      unsigned digit = 0;
      if (c >= '0' && c <= '9')
        digit = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        digit = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        digit = static_cast<unsigned>(c - 'A' + 10);
      else
        return tl::unexpected(manifest_detail::wrong_field(where_, path, v, expected));
      value = (value << 4) | digit;
    }
    return value;
  }

  step_result read_interfaces(const json& root, manifest& m) {
    auto list = optional_array(root, "interfaces");
    if (!list) return tl::unexpected(list.error());
    if (!*list) return {};
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < (*list)->size(); ++i) {
      const json& item = (**list)[i];
      std::string path = manifest_detail::element_path("interfaces", i);
      if (!item.is_object())
        return tl::unexpected(manifest_detail::wrong_field(
            where_, path, item, "an object like {\"id\": \"...\", \"methods\": 2}"));
      if (auto r = manifest_detail::check_members(item, where_, path, k_interface_members, true);
          !r)
        return tl::unexpected(r.error());
      interface_decl decl;

      std::string id_path = manifest_detail::member_path(path, "id");
      const json* id = manifest_detail::member(item, "id");
      if (!id)
        return tl::unexpected(
            manifest_detail::missing_field(where_, id_path, "a non-empty string (a uuid)"));
      auto s = manifest_detail::read_string(*id, where_, id_path, "a non-empty string (a uuid)");
      if (!s) return tl::unexpected(s.error());
      if (s->empty())
        return tl::unexpected(
            manifest_detail::wrong_field(where_, id_path, *id, "a non-empty string (a uuid)"));
      if (!seen.insert(*s).second)
        return tl::unexpected(schema_error("manifest field \"" + id_path + "\" is \"" + *s +
                                           "\", already the id of an interface before it: ids "
                                           "must be unique"));
      decl.id = std::move(*s);

      if (const json* name = manifest_detail::member(item, "name")) {
        auto n =
            manifest_detail::read_string(*name, where_, manifest_detail::member_path(path, "name"));
        if (!n) return tl::unexpected(n.error());
        decl.name = std::move(*n);
      }

      std::string methods_path = manifest_detail::member_path(path, "methods");
      const json* methods = manifest_detail::member(item, "methods");
      if (!methods)
        return tl::unexpected(manifest_detail::missing_field(
            where_, methods_path, "the number of methods, an integer from 0 to 4294967295"));
      auto count = manifest_detail::read_unsigned(*methods, where_, methods_path, 0, UINT32_MAX);
      if (!count) return tl::unexpected(count.error());
      decl.methods = static_cast<std::uint32_t>(*count);

      if (const json* hash = manifest_detail::member(item, "layout_hash")) {
        auto h = read_layout_hash(*hash, manifest_detail::member_path(path, "layout_hash"));
        if (!h) return tl::unexpected(h.error());
        decl.layout_hash = *h;
      }
      m.interfaces.push_back(std::move(decl));
    }
    return {};
  }

  step_result read_state_schema(const json& root, manifest& m) {
    const json* v = manifest_detail::member(root, "state_schema");
    if (!v) return {};
    auto n = manifest_detail::read_unsigned(*v, where_, "state_schema", 0, UINT32_MAX);
    if (!n) return tl::unexpected(n.error());
    m.state_schema = static_cast<std::uint32_t>(*n);
    return {};
  }

  step_result read_permissions(const json& root, manifest& m) {
    auto list = optional_array(root, "permissions");
    if (!list) return tl::unexpected(list.error());
    if (!*list) return {};
    std::string expected = "one of";
    for (std::size_t i = 0; i < k_permissions.size(); ++i)
      expected += std::string(i ? ", \"" : " \"") + std::string(k_permissions[i]) + "\"";
    for (std::size_t i = 0; i < (*list)->size(); ++i) {
      const json& item = (**list)[i];
      std::string path = manifest_detail::element_path("permissions", i);
      auto s = manifest_detail::read_string(item, where_, path, expected);
      if (!s) return tl::unexpected(s.error());
      if (std::find(k_permissions.begin(), k_permissions.end(), *s) == k_permissions.end())
        return tl::unexpected(manifest_detail::wrong_field(where_, path, item, expected));
      if (std::find(m.permissions.begin(), m.permissions.end(), *s) != m.permissions.end())
        return tl::unexpected(schema_error("manifest field \"" + path + "\" is \"" + *s +
                                           "\", already listed before it"));
      m.permissions.push_back(std::move(*s));
    }
    return {};
  }

  step_result read_entry_points(const json& root, manifest& m) {
    const json* v = manifest_detail::member(root, "entry_points");
    if (!v) return {};
    if (!v->is_object())
      return tl::unexpected(manifest_detail::wrong_field(
          where_, "entry_points", *v, "an object like {\"on_load\": \"calc_on_load\"}"));
    if (auto r =
            manifest_detail::check_members(*v, where_, "entry_points", k_entry_point_members, true);
        !r)
      return tl::unexpected(r.error());
    std::string* slots[] = {&m.entry_points.on_load, &m.entry_points.on_unload,
                            &m.entry_points.save_state, &m.entry_points.restore_state};
    for (std::size_t i = 0; i < k_entry_point_members.size(); ++i) {
      const json* name = manifest_detail::member(*v, k_entry_point_members[i]);
      if (!name) continue;
      std::string path = manifest_detail::member_path("entry_points", k_entry_point_members[i]);
      constexpr std::string_view expected = "a c identifier naming an exported function";
      auto s = manifest_detail::read_string(*name, where_, path, expected);
      if (!s) return tl::unexpected(s.error());
      if (!is_c_identifier(*s))
        return tl::unexpected(manifest_detail::wrong_field(where_, path, *name, expected));
      *slots[i] = std::move(*s);
    }
    // State moves from the old version's save_state into the new one's restore_state: a module
    // with only one of them could never take part in a swap that keeps state.
    const auto& ep = m.entry_points;
    if (ep.save_state.empty() != ep.restore_state.empty())
      return tl::unexpected(
          schema_error(std::string("manifest field \"entry_points.") +
                       (ep.save_state.empty() ? "save_state" : "restore_state") +
                       "\" is missing, expected it beside \"entry_points." +
                       (ep.save_state.empty() ? "restore_state" : "save_state") +
                       "\" (state is saved by one version and restored by the next)"));
    return {};
  }

  std::string source_;
  where where_;
};

}  // namespace

bool valid_module_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_name) return false;
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  };
  // A leading '.' or '-' would make hidden files and option-like names.
  if (name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), allowed);
}

std::span<const std::string_view> known_permissions() { return k_permissions; }

std::uint32_t supported_abi_version() { return LIVEMOD_ABI_VERSION; }

std::string_view to_string(dependency_kind kind) {
  switch (kind) {
    case dependency_kind::required:
      return "required";
    case dependency_kind::weak:
      return "weak";
    case dependency_kind::upward:
      return "upward";
  }
  return "unknown";
}

namespace {
result<manifest> parse_uncached(std::string_view json_text, std::string_view source) {
  // The section holds a C string: its terminating NUL (and any padding) is not part of the JSON.
  while (!json_text.empty() && json_text.back() == '\0') json_text.remove_suffix(1);
  try {
    duplicate_finder duplicates;
    json root = json::parse(json_text, std::ref(duplicates));
    if (!duplicates.first_duplicate().empty())
      return fail(
          errc::manifest_schema, std::string(source),
          "manifest field \"" + duplicates.first_duplicate() + "\" appears twice in one object",
          "keep one of them");
    return reader(source).read(root);
  } catch (const json::parse_error& e) {
    return fail(bad_json(source, json_text, e));
  } catch (const std::exception& e) {
    // Nothing else is expected (the reader checks every type before it reads a value), but an
    // exception must not leave the library: report it as an unreadable manifest.
    return fail(errc::manifest_bad_json, std::string(source),
                std::string("manifest could not be read: ") + e.what(),
                std::string(manifest_detail::k_fix_manifest));
  }
}

}  // namespace

// A host reads the same manifests again and again: resolve reads one to build the graph, the
// preflight reads it again, a reload reads it once more. Parsing costs a few hundred thousand
// instructions (nlohmann builds a DOM); valid manifests are kept by their exact text, which is
// all the result depends on. Failures are not kept: their message names the source.
result<manifest> parse_manifest(std::string_view json_text, std::string_view source) {
  static std::mutex mutex;
  static std::unordered_map<std::string, manifest> parsed;
  {
    std::lock_guard lock(mutex);
    if (auto it = parsed.find(std::string(json_text)); it != parsed.end()) return it->second;
  }
  auto m = parse_uncached(json_text, source);
  if (m) {
    std::lock_guard lock(mutex);
    if (parsed.size() >= 4096) parsed.clear();  // bounded: a host has far fewer modules
    parsed.emplace(std::string(json_text), *m);
  }
  return m;
}

}  // namespace livemod
