#include "manifest/json_fields.h"

#include <algorithm>
#include <vector>

namespace livemod::manifest_detail {
namespace {

// Long enough to recognise a value, short enough to keep the message on one line.
constexpr std::size_t k_max_shown = 60;

std::string field(const where& w, std::string_view path) {
  return std::string(w.noun) + " \"" + std::string(path) + "\"";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string member_path(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  return std::string(prefix) + "." + std::string(key);
}

std::string element_path(std::string_view prefix, std::size_t index) {
  return std::string(prefix) + "[" + std::to_string(index) + "]";
}

std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      if (s.size() <= k_max_shown) return json(s).dump();
      // Cut on a UTF-8 boundary so the dump stays valid.
      std::size_t cut = k_max_shown;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
      return json(s.substr(0, cut)).dump() + "...";
    }
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::binary:
      return "binary data";
    case json::value_t::discarded:
      return "nothing";
    default:
      return value.dump();  // numbers, booleans, null
  }
}

error missing_field(const where& w, std::string_view path, std::string_view expected) {
  return error(errc::manifest_schema, std::string(w.source),
               field(w, path) + " is missing, expected " + std::string(expected),
               std::string(w.remedy));
}

error wrong_field(const where& w, std::string_view path, const json& found,
                  std::string_view expected) {
  return error(errc::manifest_schema, std::string(w.source),
               field(w, path) + " is " + describe(found) + ", expected " + std::string(expected),
               std::string(w.remedy));
}

const json* member(const json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

result<std::string> read_string(const json& value, const where& w, std::string_view path,
                                std::string_view expected) {
  if (!value.is_string()) return tl::unexpected(wrong_field(w, path, value, expected));
  return value.get<std::string>();
}

result<std::uint64_t> read_unsigned(const json& value, const where& w, std::string_view path,
                                    std::uint64_t min, std::uint64_t max) {
  std::string expected = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  // nlohmann keeps non-negative integers as number_unsigned; negatives and fractions fail here.
  if (!value.is_number_unsigned()) return tl::unexpected(wrong_field(w, path, value, expected));
  auto n = value.get<std::uint64_t>();
  if (n < min || n > max) return tl::unexpected(wrong_field(w, path, value, expected));
  return n;
}

result<std::int64_t> read_integer(const json& value, const where& w, std::string_view path,
                                  std::int64_t min, std::int64_t max) {
  std::string expected = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (value.is_number_unsigned()) {
    auto n = value.get<std::uint64_t>();
    if (max < 0 || n > static_cast<std::uint64_t>(max))
      return tl::unexpected(wrong_field(w, path, value, expected));
    auto s = static_cast<std::int64_t>(n);
    if (s < min) return tl::unexpected(wrong_field(w, path, value, expected));
    return s;
  }
  if (!value.is_number_integer()) return tl::unexpected(wrong_field(w, path, value, expected));
  auto n = value.get<std::int64_t>();
  if (n < min || n > max) return tl::unexpected(wrong_field(w, path, value, expected));
  return n;
}

result<bool> read_bool(const json& value, const where& w, std::string_view path) {
  if (!value.is_boolean()) return tl::unexpected(wrong_field(w, path, value, "true or false"));
  return value.get<bool>();
}

result<void> check_members(const json& object, const where& w, std::string_view prefix,
                           std::span<const std::string_view> known, bool allow_private) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (allow_private && key.starts_with("x-")) continue;
    std::string cause = std::string(w.noun) + " \"" + member_path(prefix, key) + "\" is unknown";
    // A typo is the likely cause: name the field that was probably meant.
    std::string_view nearest;
    std::size_t best = 3;  // at most two edits away
    for (std::string_view k : known) {
      std::size_t d = edit_distance(key, k);
      if (d < best) {
        best = d;
        nearest = k;
      }
    }
    if (!nearest.empty()) cause += " (did you mean \"" + std::string(nearest) + "\"?)";
    std::string remedy = "remove it";
    if (allow_private) remedy += ", or prefix it with \"x-\" to keep private data";
    return tl::unexpected(
        error(errc::manifest_schema, std::string(w.source), std::move(cause), std::move(remedy)));
  }
  return {};
}

}  // namespace livemod::manifest_detail
