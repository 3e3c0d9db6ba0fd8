// Semantic versions, semver.org 2.0: the grammar of section 9-10 and the precedence of section 11.
#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "livemod/manifest.h"

namespace livemod {
namespace {

constexpr std::string_view k_remedy = "write major.minor.patch like \"1.2.0\" (semver.org 2.0)";

bool is_ident_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}

tl::unexpected<error> bad(std::string_view text, const std::string& why) {
  return fail(errc::manifest_bad_version, "",
              "\"" + std::string(text) + "\" is not a semantic version: " + why,
              std::string(k_remedy));
}

// Numeric identifiers compare by value; without leading zeros a longer one is larger, which
// also orders numbers too big for any integer type.
std::strong_ordering compare_identifiers(std::string_view a, std::string_view b) {
  bool a_num = all_digits(a), b_num = all_digits(b);
  if (a_num && b_num) {
    if (a.size() != b.size()) return a.size() <=> b.size();
    return a.compare(b) <=> 0;
  }
  // A numeric identifier has lower precedence than an alphanumeric one.
  if (a_num != b_num) return a_num ? std::strong_ordering::less : std::strong_ordering::greater;
  return a.compare(b) <=> 0;  // ASCII order
}

result<std::uint64_t> parse_number(std::string_view part, std::string_view what,
                                   std::string_view text) {
  if (part.empty()) return bad(text, std::string(what) + " is empty");
  if (!all_digits(part))
    return bad(text, std::string(what) + " \"" + std::string(part) + "\" is not a number");
  if (part.size() > 1 && part[0] == '0')
    return bad(text, std::string(what) + " \"" + std::string(part) + "\" has a leading zero");
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
  if (ec != std::errc() || end != part.data() + part.size())
    return bad(text, std::string(what) + " \"" + std::string(part) + "\" is too large");
  return value;
}

result<semver> parse_semver_suffix(semver v, std::string_view rest, std::string_view text) {
  if (rest.empty()) return v;
  std::string_view pre, build;
  if (rest[0] == '-') {
    std::string_view after = rest.substr(1);
    std::size_t plus = after.find('+');
    pre = after.substr(0, plus);
    if (plus != std::string_view::npos) build = after.substr(plus + 1);
    if (pre.empty()) return bad(text, "the pre-release after \"-\" is empty");
    if (plus != std::string_view::npos && build.empty())
      return bad(text, "the build metadata after \"+\" is empty");
  } else if (rest[0] == '+') {
    build = rest.substr(1);
    if (build.empty()) return bad(text, "the build metadata after \"+\" is empty");
  } else {
    return bad(text, "unexpected \"" + std::string(rest) +
                         "\" after the patch number, expected \"-\" or \"+\"");
  }

  auto check_identifiers = [&](std::string_view list, bool pre_release) -> result<void> {
    std::string_view what = pre_release ? "pre-release" : "build metadata";
    std::size_t start = 0;
    while (true) {
      std::size_t dot = list.find('.', start);
      std::string_view id = list.substr(start, dot == std::string_view::npos ? dot : dot - start);
      if (id.empty()) return bad(text, std::string(what) + " has an empty identifier");
      for (char c : id)
        if (!is_ident_char(c))
          return bad(text, std::string(what) + " identifier \"" + std::string(id) +
                               "\" has a character other than letters, digits and \"-\"");
      // Leading zeros are refused only in numeric pre-release identifiers (spec item 9).
      if (pre_release && all_digits(id) && id.size() > 1 && id[0] == '0')
        return bad(text, "pre-release identifier \"" + std::string(id) + "\" has a leading zero");
      if (pre_release) v.prerelease.emplace_back(id);
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    return {};
  };
  if (!pre.empty())
    if (auto r = check_identifiers(pre, true); !r) return tl::unexpected(r.error());
  if (!build.empty()) {
    if (auto r = check_identifiers(build, false); !r) return tl::unexpected(r.error());
    v.build = std::string(build);
  }
  return v;
}

}  // namespace

result<semver> parse_semver(std::string_view text) {
  if (text.empty()) return bad(text, "it is empty");
  // The core ends where the pre-release or the build metadata begins.
  std::size_t core_end = text.find_first_of("-+");
  std::string_view core = text.substr(0, core_end);
  std::string_view rest = core_end == std::string_view::npos ? "" : text.substr(core_end);

  std::string_view parts[3];
  std::size_t count = 0, start = 0;
  while (true) {
    std::size_t dot = core.find('.', start);
    if (count == 3) return bad(text, "it has more than three numbers before any \"-\" or \"+\"");
    parts[count++] = core.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }

  semver v;
  static constexpr std::string_view names[3] = {"the major version", "the minor version",
                                                "the patch version"};
  std::uint64_t* fields[3] = {&v.major, &v.minor, &v.patch};
  for (std::size_t i = 0; i < count; ++i) {
    auto n = parse_number(parts[i], names[i], text);
    if (!n) return tl::unexpected(n.error());
    *fields[i] = *n;
  }
  if (count < 3)
    return bad(text, "it has " + std::to_string(count) + (count == 1 ? " number" : " numbers") +
                         ", expected major.minor.patch");
  return parse_semver_suffix(std::move(v), rest, text);
}

std::string semver::to_string() const {
  std::string out =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (std::size_t i = 0; i < prerelease.size(); ++i) out += (i == 0 ? "-" : ".") + prerelease[i];
  if (!build.empty()) out += "+" + build;
  return out;
}

std::strong_ordering operator<=>(const semver& a, const semver& b) {
  if (auto c = a.major <=> b.major; c != 0) return c;
  if (auto c = a.minor <=> b.minor; c != 0) return c;
  if (auto c = a.patch <=> b.patch; c != 0) return c;
  // A release outranks its pre-releases (spec item 11.3).
  if (a.prerelease.empty() || b.prerelease.empty())
    return a.prerelease.empty() <=> b.prerelease.empty();
  std::size_t n = std::min(a.prerelease.size(), b.prerelease.size());
  for (std::size_t i = 0; i < n; ++i)
    if (auto c = compare_identifiers(a.prerelease[i], b.prerelease[i]); c != 0) return c;
  // All shared identifiers equal: the longer list has the higher precedence (11.4.4).
  return a.prerelease.size() <=> b.prerelease.size();
}

}  // namespace livemod
