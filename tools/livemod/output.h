// Output helpers shared by the verbs: where text goes, colour, aligned key/value blocks, JSON,
// and the one way errors are printed.
//
// Human output is for people and may change between releases; JSON output is the stable
// interface (docs/cli.md). Colour is used only when the stream is a terminal, NO_COLOR is unset
// or empty (no-color.org) and TERM is not "dumb".
#pragma once

#include <cstddef>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "livemod/error.h"

namespace livemod::cli {

enum class tone { plain, bold, red, yellow, green, dim };

class output {
 public:
  output(std::ostream& out, std::ostream& err, bool color_out, bool color_err);

  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }

  // `text` wrapped in the escape codes for `t` when that stream is coloured, else `text`.
  std::string paint(std::string_view text, tone t) const;
  std::string paint_err(std::string_view text, tone t) const;

  // Writes `value` to stdout, indented by two, one trailing newline.
  void json(const nlohmann::ordered_json& value);

  // "livemod: E202 truncated: <message>" on stderr; returns k_exit_failed.
  int fail(const error& e);
  // {"error": {...}} on stdout (the JSON contract: a script reads one stream); returns
  // k_exit_failed.
  int fail_json(const error& e);

 private:
  std::ostream& out_;
  std::ostream& err_;
  bool color_out_;
  bool color_err_;
};

// Whether text written to `fd` should be coloured (a terminal, NO_COLOR unset, TERM not dumb).
bool wants_color(int fd);

// `text` with control characters and invalid UTF-8 bytes written as \xNN: strings read from a
// file must not be able to drive the reader's terminal.
std::string printable(std::string_view text);

// {"code": 202, "name": "truncated", "message": ..., "file": ..., "cause": ..., "remedy": ...}
nlohmann::ordered_json error_json(const error& e);

// "1 error", "2 warnings".
std::string count_noun(std::size_t n, std::string_view singular, std::string_view plural);

// Lines of "key:  value" with the values aligned, printed at an indent. A value with newlines
// continues on the next lines at the value column (a list, one item a line).
class field_list {
 public:
  field_list& add(std::string key, std::string value);
  void print(std::ostream& os, std::size_t indent = 0) const;

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

// Rows of cells printed with every column but the last padded to its widest cell, two spaces
// apart, at an indent.
void print_columns(std::ostream& os, const std::vector<std::vector<std::string>>& rows,
                   std::size_t indent = 0);

}  // namespace livemod::cli
