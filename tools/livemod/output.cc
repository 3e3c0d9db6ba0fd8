#include "output.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>

#include "commands.h"

namespace livemod::cli {

namespace {

std::string_view sgr(tone t) {
  switch (t) {
    case tone::plain:
      return "";
    case tone::bold:
      return "\x1b[1m";
    case tone::red:
      return "\x1b[1;31m";
    case tone::yellow:
      return "\x1b[1;33m";
    case tone::green:
      return "\x1b[1;32m";
    case tone::dim:
      return "\x1b[2m";
  }
  return "";
}

std::string paint_if(bool on, std::string_view text, tone t) {
  if (!on || t == tone::plain) return std::string(text);
  std::string s(sgr(t));
  s += text;
  s += "\x1b[0m";
  return s;
}

// Length of the UTF-8 sequence starting at text[i], or 0 when it is not a valid one.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  std::size_t n = 0;
  if (lead >= 0xc2 && lead <= 0xdf)
    n = 2;
  else if (lead >= 0xe0 && lead <= 0xef)
    n = 3;
  else if (lead >= 0xf0 && lead <= 0xf4)
    n = 4;
  else
    return 0;
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

}  // namespace

output::output(std::ostream& out, std::ostream& err, bool color_out, bool color_err)
    : out_(out), err_(err), color_out_(color_out), color_err_(color_err) {}

std::string output::paint(std::string_view text, tone t) const {
  return paint_if(color_out_, text, t);
}

std::string output::paint_err(std::string_view text, tone t) const {
  return paint_if(color_err_, text, t);
}

void output::json(const nlohmann::ordered_json& value) {
  // Symbol names and manifest strings come from the file and need not be UTF-8; dump() would
  // throw on them, so invalid bytes become U+FFFD instead.
  out_ << value.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

int output::fail(const error& e) {
  err_ << paint_err("livemod:", tone::bold) << ' '
       << paint_err("E" + std::to_string(static_cast<int>(e.code())), tone::red) << ' '
       << to_string(e.code()) << ": " << printable(e.message()) << '\n';
  return k_exit_failed;
}

int output::fail_json(const error& e) {
  json(nlohmann::ordered_json{{"error", error_json(e)}});
  return k_exit_failed;
}

bool wants_color(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return isatty(fd) == 1;
}

std::string printable(std::string_view text) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string s;
  s.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      s += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const std::size_t n = utf8_length(text, i); n != 0) {
        s.append(text.substr(i, n));
        i += n;
        continue;
      }
    }
    s += "\\x";
    s += k_hex[c >> 4];
    s += k_hex[c & 0xf];
    ++i;
  }
  return s;
}

nlohmann::ordered_json error_json(const error& e) {
  return {{"code", static_cast<int>(e.code())},
          {"name", std::string(to_string(e.code()))},
          {"message", e.message()},
          {"file", e.file()},
          {"cause", e.cause()},
          {"remedy", e.remedy()}};
}

std::string count_noun(std::size_t n, std::string_view singular, std::string_view plural) {
  return std::to_string(n) + " " + std::string(n == 1 ? singular : plural);
}

field_list& field_list::add(std::string key, std::string value) {
  rows_.emplace_back(std::move(key), std::move(value));
  return *this;
}

void field_list::print(std::ostream& os, std::size_t indent) const {
  std::size_t width = 0;
  for (const auto& [key, value] : rows_) width = std::max(width, key.size());
  const std::size_t column = indent + width + 3;  // "key:" and two spaces
  for (const auto& [key, value] : rows_) {
    std::string line(indent, ' ');
    line += key;
    line += ':';
    std::size_t begin = 0;
    while (true) {
      const std::size_t end = value.find('\n', begin);
      line.resize(column, ' ');
      line.append(value, begin, end == std::string::npos ? std::string::npos : end - begin);
      os << line << '\n';
      if (end == std::string::npos) break;
      begin = end + 1;
      line.clear();
    }
  }
}

void print_columns(std::ostream& os, const std::vector<std::vector<std::string>>& rows,
                   std::size_t indent) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line(indent, ' ');
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - row[c].size() + 2, ' ');
    }
    // A short row (no last cell) must not leave padding behind.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << line << '\n';
  }
}

}  // namespace livemod::cli
