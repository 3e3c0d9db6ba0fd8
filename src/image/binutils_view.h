// Test helper: what GNU readelf and nm say about a file, parsed into the shape of image_info,
// so the image tests can hold read_image to the real tools.
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "livemod/image.h"

namespace livemod::testing_support {

struct binutils_view {
  std::string soname;
  std::vector<std::string> needed;
  std::vector<std::string> rpath;
  std::vector<std::string> runpath;
  std::vector<std::pair<std::string, std::vector<std::string>>> needs;  // file -> versions
  std::vector<std::string> defs;
  std::vector<std::string> defined;    // nm -D definitions, sorted, as nm spells them
  std::vector<std::string> undefined;  // nm -D references, sorted
  std::vector<std::string> unique;     // defined with nm's letter 'u', sorted, bare names
};

// Runs `command` through the shell; its stdout, and the exit status in `status`.
inline std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    status = -1;
    return out;
  }
  std::array<char, 65536> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int raw = ::pclose(pipe);
  status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The text between `open` and the last `close` on the line ("[libc.so.6]").
inline std::string bracketed(const std::string& line) {
  const std::size_t a = line.find('[');
  const std::size_t b = line.rfind(']');
  if (a == std::string::npos || b == std::string::npos || b < a) return {};
  return line.substr(a + 1, b - a - 1);
}

// The word after `key` on the line, up to the next double space or the end.
inline std::string field_after(const std::string& line, std::string_view key) {
  const std::size_t at = line.find(key);
  if (at == std::string::npos) return {};
  const std::size_t start = at + key.size();
  const std::size_t end = line.find("  ", start);
  std::string v = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
  return v;
}

inline std::vector<std::string> split_colons(const std::string& s) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = s.find(':', start);
    parts.push_back(s.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return parts;
}

// How nm -D spells a dynamic symbol: name@@VER for a default version, name@VER for a hidden
// one or a reference, the bare name for the version nodes themselves (name == version).
inline std::string nm_spelling(const elf_symbol& s) {
  if (s.version.empty() || s.version == s.name) return s.name;
  if (!s.defined || s.version_hidden) return s.name + "@" + s.version;
  return s.name + "@@" + s.version;
}

inline binutils_view ask_binutils(const std::filesystem::path& file, bool& ok) {
  binutils_view v;
  ok = true;
  int status = 0;
  const std::string q = shell_quote(file.string());

  // One readelf for both -d and -V, one nm for both symbol sets: two processes per file keep
  // the comparison over a sample of system libraries within a few seconds.
  enum { other, defs, needs } in = other;
  for (const std::string& line :
       lines_of(run_command("readelf -d -V -W " + q + " 2>/dev/null", status))) {
    if (line.find("(NEEDED)") != std::string::npos) v.needed.push_back(bracketed(line));
    if (line.find("(SONAME)") != std::string::npos) v.soname = bracketed(line);
    if (line.find("(RPATH)") != std::string::npos) v.rpath = split_colons(bracketed(line));
    if (line.find("(RUNPATH)") != std::string::npos) v.runpath = split_colons(bracketed(line));
    if (line.rfind("Version definition section", 0) == 0) {
      in = defs;
    } else if (line.rfind("Version needs section", 0) == 0) {
      in = needs;
    } else if (line.rfind("Version symbols section", 0) == 0 ||
               line.rfind("Dynamic section", 0) == 0) {
      in = other;
    } else if (in == defs && line.find("Rev:") != std::string::npos) {
      v.defs.push_back(field_after(line, "Name: "));
    } else if (in == needs && line.find("File: ") != std::string::npos) {
      v.needs.emplace_back(field_after(line, "File: "), std::vector<std::string>{});
    } else if (in == needs && line.find("Name: ") != std::string::npos && !v.needs.empty()) {
      v.needs.back().second.push_back(field_after(line, "Name: "));
    }
  }
  ok = ok && status == 0;

  // nm -D: "value letter name" for a definition, "letter name" for a reference (U, w, v).
  for (const std::string& line : lines_of(run_command("nm -D " + q + " 2>/dev/null", status))) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.size() == 2) {
      v.undefined.push_back(w[1]);
    } else if (w.size() == 3) {
      v.defined.push_back(w[2]);
      if (w[1] == "u") v.unique.push_back(w[2].substr(0, w[2].find('@')));
    }
  }
  ok = ok && status == 0;
  std::sort(v.defined.begin(), v.defined.end());
  std::sort(v.undefined.begin(), v.undefined.end());
  std::sort(v.unique.begin(), v.unique.end());
  return v;
}

}  // namespace livemod::testing_support
