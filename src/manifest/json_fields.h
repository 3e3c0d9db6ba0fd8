// Internal to the manifest layer: typed access to the members of a parsed JSON object, each
// failure an error that names the member's path ("dependencies[1].kind"), what was found and
// what was expected. Shared by the manifest and the fingerprint parsers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "livemod/error.h"
#include "livemod/manifest.h"

namespace livemod::manifest_detail {

using json = nlohmann::json;

// The remedy schema errors give by default.
inline constexpr std::string_view k_fix_manifest = "fix the module's manifest json";

// Where a value came from, for messages: `libcalc.so: manifest field "abi" is ...; <remedy>`.
struct where {
  std::string_view source;  // "libcalc.so"
  std::string_view noun;    // "manifest field", "fingerprint field"
  std::string_view remedy = k_fix_manifest;
};

// "abi", "dependencies[1].kind": `key` appended to `prefix`.
std::string member_path(std::string_view prefix, std::string_view key);
std::string element_path(std::string_view prefix, std::size_t index);

// A value as a message shows it: "\"optional\"" (quoted, shortened), 12, true, null,
// "an array", "an object".
std::string describe(const json& value);

// `<noun> "<path>" is missing, expected <expected>`.
error missing_field(const where& w, std::string_view path, std::string_view expected);
// `<noun> "<path>" is <found>, expected <expected>`.
error wrong_field(const where& w, std::string_view path, const json& found,
                  std::string_view expected);

// The member `key` of `object`, or nullptr when absent.
const json* member(const json& object, std::string_view key);

// Typed reads; `path` names the value in messages.
result<std::string> read_string(const json& value, const where& w, std::string_view path,
                                std::string_view expected = "a string");
result<std::uint64_t> read_unsigned(const json& value, const where& w, std::string_view path,
                                    std::uint64_t min, std::uint64_t max);
result<std::int64_t> read_integer(const json& value, const where& w, std::string_view path,
                                  std::int64_t min, std::int64_t max);
result<bool> read_bool(const json& value, const where& w, std::string_view path);

// Fails on the first member of `object` that is not in `known` (and, when `allow_private`,
// does not start with "x-"), suggesting the nearest known name when one is close.
result<void> check_members(const json& object, const where& w, std::string_view prefix,
                           std::span<const std::string_view> known, bool allow_private);

// Defined in fingerprint.cc: a fingerprint object; `prefix` is its path ("fingerprint", or ""
// when it stands alone).
result<build_fingerprint> read_fingerprint(const json& value, const where& w,
                                           std::string_view prefix);

}  // namespace livemod::manifest_detail
