// Version ranges, npm's grammar (node-semver's range.js) without its loose mode: every range is
// reduced to plain comparators at parse time, so contains() is a loop of semver comparisons.
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "livemod/manifest.h"

namespace livemod {
namespace {

constexpr std::string_view k_remedy = "write a range like \"^1.2\", \">=1.2 <2\" or \"~1.2.3\"";

enum class rel : std::uint8_t { eq, lt, le, gt, ge };

struct term {
  rel op;
  semver version;
};
using term_list = std::vector<term>;  // all must hold; empty holds for every version

// A version as written in a range: up to three numbers, then wildcards or nothing.
struct partial {
  int given = 0;   // how many leading numbers were written (0..3)
  semver version;  // the numbers, zero where not given; the pre-release when given == 3
};

// Errors inside the parser carry only the reason; parse_version_range adds the range text.
using why = std::string;
template <class T>
using step = tl::expected<T, why>;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_wildcard(std::string_view s) { return s == "x" || s == "X" || s == "*"; }

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

step<partial> parse_partial(std::string_view token) {
  if (token.empty()) return tl::unexpected(why("an operator has no version after it"));
  if (token[0] == 'v' || token[0] == 'V')
    return tl::unexpected(quoted(token) + " starts with \"v\"; write the bare version");
  std::size_t suffix = token.find_first_of("-+");
  std::string_view core = token.substr(0, suffix);

  partial p;
  std::uint64_t* fields[3] = {&p.version.major, &p.version.minor, &p.version.patch};
  bool wild = false;
  std::size_t count = 0, start = 0;
  while (true) {
    std::size_t dot = core.find('.', start);
    std::string_view part = core.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (count == 3) return tl::unexpected(quoted(token) + " has more than three parts");
    if (is_wildcard(part)) {
      wild = true;
    } else if (wild) {
      return tl::unexpected(quoted(token) + " has a number after a wildcard");
    } else {
      bool digits = !part.empty();
      for (char c : part) digits = digits && c >= '0' && c <= '9';
      if (!digits)
        return tl::unexpected("in " + quoted(token) + ", " + quoted(part) +
                              " is neither a number nor a wildcard (x, X, *)");
      if (part.size() > 1 && part[0] == '0')
        return tl::unexpected("in " + quoted(token) + ", " + quoted(part) + " has a leading zero");
      auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), *fields[count]);
      if (ec != std::errc() || end != part.data() + part.size())
        return tl::unexpected("in " + quoted(token) + ", " + quoted(part) + " is too large");
      ++p.given;
    }
    ++count;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (suffix == std::string_view::npos) return p;
  if (p.given != 3)
    return tl::unexpected(quoted(token) +
                          " has a pre-release or build but not all of major.minor.patch");
  // A full version: semver's own parser checks the pre-release and build identifiers.
  auto full = parse_semver(token);
  if (!full) return tl::unexpected(full.error().cause());
  p.version = std::move(*full);
  return p;
}

// The lowest pre-release of a version: nothing of major.minor.patch sorts below it, so "<X-0"
// keeps X's pre-releases out as well as X.
semver floor_of(std::uint64_t major, std::uint64_t minor, std::uint64_t patch) {
  semver v;
  v.major = major;
  v.minor = minor;
  v.patch = patch;
  v.prerelease = {"0"};
  return v;
}

semver release(std::uint64_t major, std::uint64_t minor, std::uint64_t patch) {
  semver v;
  v.major = major;
  v.minor = minor;
  v.patch = patch;
  return v;
}

step<std::uint64_t> bump(std::uint64_t n, std::string_view token) {
  if (n == UINT64_MAX) return tl::unexpected(quoted(token) + " has no next version");
  return n + 1;
}

// The exclusive upper bound of a partial: the next version after everything it names.
step<semver> upper_of(const partial& p, std::string_view token) {
  const semver& v = p.version;
  if (p.given == 1) {
    auto m = bump(v.major, token);
    if (!m) return tl::unexpected(m.error());
    return floor_of(*m, 0, 0);
  }
  auto m = bump(v.minor, token);
  if (!m) return tl::unexpected(m.error());
  return floor_of(v.major, *m, 0);
}

// One comparator as written ("^1.2", ">=1.0.0-rc.1", "1.x") as plain comparators.
step<term_list> expand(std::string_view op, const partial& p, std::string_view token) {
  const semver& v = p.version;
  if (p.given == 0) {
    if (op == ">" || op == "<") return tl::unexpected(quoted(token) + " matches no version");
    return term_list{};
  }
  semver low = p.given == 3 ? v : release(v.major, v.minor, 0);
  if (op.empty() || op == "=") {
    if (p.given == 3) return term_list{{rel::eq, v}};
    auto up = upper_of(p, token);
    if (!up) return tl::unexpected(up.error());
    return term_list{{rel::ge, low}, {rel::lt, *up}};
  }
  if (op == "^") {
    // The first non-zero number of the written version is the one that may not change.
    step<semver> up;
    if (v.major > 0 || p.given == 1) {
      auto m = bump(v.major, token);
      if (!m) return tl::unexpected(m.error());
      up = floor_of(*m, 0, 0);
    } else if (v.minor > 0 || p.given == 2) {
      auto m = bump(v.minor, token);
      if (!m) return tl::unexpected(m.error());
      up = floor_of(0, *m, 0);
    } else {
      auto m = bump(v.patch, token);
      if (!m) return tl::unexpected(m.error());
      up = floor_of(0, 0, *m);
    }
    return term_list{{rel::ge, low}, {rel::lt, *up}};
  }
  if (op == "~") {
    auto up = upper_of(p, token);
    if (!up) return tl::unexpected(up.error());
    return term_list{{rel::ge, low}, {rel::lt, *up}};
  }
  if (op == ">=") return term_list{{rel::ge, low}};
  if (op == ">") {
    if (p.given == 3) return term_list{{rel::gt, v}};
    auto up = upper_of(p, token);
    if (!up) return tl::unexpected(up.error());
    semver next = *up;
    next.prerelease.clear();  // ">1.2" starts at 1.3.0 itself, not at its pre-releases
    return term_list{{rel::ge, next}};
  }
  if (op == "<") {
    if (p.given == 3) return term_list{{rel::lt, v}};
    return term_list{{rel::lt, floor_of(v.major, v.minor, 0)}};
  }
  if (op == "<=") {
    if (p.given == 3) return term_list{{rel::le, v}};
    auto up = upper_of(p, token);
    if (!up) return tl::unexpected(up.error());
    return term_list{{rel::lt, *up}};
  }
  return tl::unexpected(quoted(op) + " is not an operator");
}

std::string_view split_operator(std::string_view& token) {
  for (std::string_view op : {">=", "<=", ">", "<", "=", "^", "~"}) {
    if (token.substr(0, op.size()) == op) {
      token.remove_prefix(op.size());
      return op;
    }
  }
  return {};
}

// "A - B": inclusive at both ends, partials widened the way a person reads them.
step<term_list> expand_hyphen(std::string_view a, std::string_view b) {
  auto low = parse_partial(a);
  if (!low) return tl::unexpected(low.error());
  auto high = parse_partial(b);
  if (!high) return tl::unexpected(high.error());
  term_list out;
  if (low->given > 0) {
    auto t = expand(">=", *low, a);
    if (!t) return tl::unexpected(t.error());
    out.insert(out.end(), t->begin(), t->end());
  }
  if (high->given > 0) {
    auto t = expand("<=", *high, b);
    if (!t) return tl::unexpected(t.error());
    out.insert(out.end(), t->begin(), t->end());
  }
  return out;
}

step<term_list> parse_alternative(std::string_view text) {
  std::vector<std::string_view> tokens;
  for (std::size_t i = 0; i < text.size();) {
    if (is_space(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    tokens.push_back(text.substr(i, j - i));
    i = j;
  }
  if (tokens.size() == 3 && tokens[1] == "-") return expand_hyphen(tokens[0], tokens[2]);

  term_list out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string_view token = tokens[i];
    if (token == "-")
      return tl::unexpected(why("a hyphen range must be the whole alternative: \"A - B\""));
    std::string whole(token);
    std::string_view version = token;
    std::string_view op = split_operator(version);
    // An operator standing alone takes the next token: ">= 1.2".
    if (!op.empty() && version.empty() && i + 1 < tokens.size()) {
      version = tokens[++i];
      whole += " " + std::string(version);
    }
    if (!op.empty() && !version.empty() && split_operator(version).size() > 0)
      return tl::unexpected(quoted(whole) + " has two operators");
    auto p = parse_partial(version);
    if (!p) {
      if (version.empty()) return tl::unexpected(quoted(op) + " has no version after it");
      return tl::unexpected(p.error());
    }
    auto t = expand(op, *p, whole);
    if (!t) return tl::unexpected(t.error());
    out.insert(out.end(), t->begin(), t->end());
  }
  return out;
}

bool holds(const semver& v, rel op, const semver& bound) {
  switch (op) {
    case rel::eq:
      return v == bound;
    case rel::lt:
      return v < bound;
    case rel::le:
      return v <= bound;
    case rel::gt:
      return v > bound;
    case rel::ge:
      return v >= bound;
  }
  return false;
}

}  // namespace

version_range::version_range() : text_("*"), alternatives_(1) {}

result<version_range> parse_version_range(std::string_view text) {
  auto bad = [&](const std::string& reason) {
    return fail(errc::manifest_bad_range, "", quoted(text) + " is not a version range: " + reason,
                std::string(k_remedy));
  };
  if (trim(text).empty()) return bad("it is empty; write \"*\" to accept any version");

  version_range out;
  out.text_ = std::string(text);
  out.alternatives_.clear();
  std::size_t start = 0;
  while (true) {
    std::size_t bar = text.find("||", start);
    std::string_view alt =
        trim(text.substr(start, bar == std::string_view::npos ? bar : bar - start));
    if (alt.empty()) return bad("an alternative next to \"||\" is empty");
    auto terms = parse_alternative(alt);
    if (!terms) return bad(terms.error());
    std::vector<version_range::comparator> set;
    for (const term& t : *terms) {
      using op = version_range::comparator::op;
      op kind = op::eq;
      switch (t.op) {
        case rel::eq:
          kind = op::eq;
          break;
        case rel::lt:
          kind = op::lt;
          break;
        case rel::le:
          kind = op::le;
          break;
        case rel::gt:
          kind = op::gt;
          break;
        case rel::ge:
          kind = op::ge;
          break;
      }
      set.push_back({kind, t.version});
    }
    out.alternatives_.push_back(std::move(set));
    if (bar == std::string_view::npos) break;
    start = bar + 2;
  }
  return out;
}

bool version_range::contains(const semver& v) const {
  for (const auto& set : alternatives_) {
    bool all = true;
    bool prerelease_named = false;
    for (const comparator& c : set) {
      rel r = rel::eq;
      switch (c.kind) {
        case comparator::op::eq:
          r = rel::eq;
          break;
        case comparator::op::lt:
          r = rel::lt;
          break;
        case comparator::op::le:
          r = rel::le;
          break;
        case comparator::op::gt:
          r = rel::gt;
          break;
        case comparator::op::ge:
          r = rel::ge;
          break;
      }
      if (!holds(v, r, c.version)) {
        all = false;
        break;
      }
      const semver& b = c.version;
      if (!b.prerelease.empty() && b.major == v.major && b.minor == v.minor && b.patch == v.patch)
        prerelease_named = true;
    }
    // A pre-release is opted into per major.minor.patch: "^1.2.0" must not pull in 1.3.0-alpha.
    if (all && (v.prerelease.empty() || prerelease_named)) return true;
  }
  return false;
}

std::string version_range::canonical() const {
  std::string out;
  for (std::size_t i = 0; i < alternatives_.size(); ++i) {
    if (i > 0) out += " || ";
    if (alternatives_[i].empty()) out += "*";
    for (std::size_t j = 0; j < alternatives_[i].size(); ++j) {
      const comparator& c = alternatives_[i][j];
      if (j > 0) out += " ";
      switch (c.kind) {
        case comparator::op::eq:
          out += "=";
          break;
        case comparator::op::lt:
          out += "<";
          break;
        case comparator::op::le:
          out += "<=";
          break;
        case comparator::op::gt:
          out += ">";
          break;
        case comparator::op::ge:
          out += ">=";
          break;
      }
      out += c.version.to_string();
    }
  }
  return out;
}

}  // namespace livemod
