#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

#include "livemod/library.h"
#include "livemod/resolve.h"

namespace livemod {
namespace {

constexpr std::size_t k_max_name_length = 64;  // the manifest's limit (manifest.h)

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || c == '.' || c == '-'; }

// Why a candidate that exists was passed over, or "" when it is not there at all.
std::string passed_over(const std::filesystem::path& candidate) {
  std::error_code ec;
  const auto status = std::filesystem::status(candidate, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    // A dangling symlink: status follows it and finds nothing, symlink_status sees the link.
    std::error_code link_ec;
    if (std::filesystem::is_symlink(std::filesystem::symlink_status(candidate, link_ec)))
      return "a dangling symlink";
    return "";
  }
  if (ec) return ec.message();
  if (std::filesystem::is_directory(status)) return "a directory";
  return "not a regular file";
}

}  // namespace

result<void> check_module_name(std::string_view name) {
  const std::string shown(name);
  const char* grammar = "a module name is [a-z0-9_][a-z0-9_.-]*, at most 64 characters";
  if (name.empty())
    return fail(errc::bad_module_name, "", "the module name is empty",
                std::string("give a name; ") + grammar);
  if (name.find('/') != std::string_view::npos || name.find('\\') != std::string_view::npos)
    return fail(errc::bad_module_name, shown, "a module name may not contain a path separator",
                "give the bare name (\"math\" for libmath.so), or load the file by its path");
  if (name.find("..") != std::string_view::npos)
    return fail(errc::bad_module_name, shown, "a module name may not contain \"..\"",
                "give the bare name (\"math\" for libmath.so), or load the file by its path");
  if (name.size() > k_max_name_length)
    return fail(errc::bad_module_name, shown,
                "the module name is " + std::to_string(name.size()) + " characters long", grammar);
  if (!is_name_start(name.front()))
    return fail(errc::bad_module_name, shown,
                "a module name may not start with '" + std::string(1, name.front()) + "'", grammar);
  for (char c : name) {
    if (!is_name_char(c))
      return fail(errc::bad_module_name, shown,
                  "a module name may not contain '" + std::string(1, c) + "'", grammar);
  }
  return {};
}

module_search_path::module_search_path(std::vector<std::filesystem::path> host_dirs,
                                       std::string_view livemod_path,
                                       std::vector<std::filesystem::path> system_dirs) {
  for (auto& dir : host_dirs) add(std::move(dir), origin::host);
  // Split at every ':' so an empty entry (a leading, trailing or doubled ':') is seen: the
  // dynamic linker reads those as the working directory, we refuse to.
  std::size_t begin = 0;
  while (begin <= livemod_path.size() && !livemod_path.empty()) {
    std::size_t end = livemod_path.find(':', begin);
    if (end == std::string_view::npos) end = livemod_path.size();
    const std::string_view part = livemod_path.substr(begin, end - begin);
    if (part.empty() || part.front() != '/') {
      ignored_.emplace_back(part);
    } else {
      add(std::filesystem::path(part), origin::environment);
    }
    begin = end + 1;
  }
  for (auto& dir : system_dirs) add(std::move(dir), origin::system);
}

module_search_path module_search_path::from_environment(
    std::vector<std::filesystem::path> host_dirs) {
  const char* value = std::getenv("LIVEMOD_PATH");
  return module_search_path(std::move(host_dirs), value != nullptr ? value : "");
}

std::vector<std::filesystem::path> module_search_path::default_system_dirs() {
  return {"/usr/local/lib/livemod", "/usr/lib/livemod"};
}

void module_search_path::add(std::filesystem::path dir, origin from) {
  // "/a/b/" and "/a/b" are one directory; compare them the way they will be searched.
  dir = dir.lexically_normal();
  if (!dir.has_filename() && dir != dir.root_path()) dir = dir.parent_path();
  for (const entry& e : entries_)
    if (e.dir == dir) return;
  entries_.push_back({std::move(dir), from});
}

std::string_view to_string(module_search_path::origin from) {
  switch (from) {
    case module_search_path::origin::host:
      return "host";
    case module_search_path::origin::environment:
      return "LIVEMOD_PATH";
    case module_search_path::origin::system:
      return "system";
  }
  return "unknown";
}

std::vector<std::filesystem::path> module_candidates(std::string_view name,
                                                     const module_search_path& search) {
  const std::string file = platform_file_name(name);
  std::vector<std::filesystem::path> candidates;
  candidates.reserve(search.entries().size());
  for (const auto& e : search.entries()) candidates.push_back(e.dir / file);
  return candidates;
}

result<std::filesystem::path> find_module(std::string_view name, const module_search_path& search) {
  if (auto ok = check_module_name(name); !ok) return fail(ok.error());
  const auto candidates = module_candidates(name, search);
  std::string tried;
  for (const auto& candidate : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    if (!tried.empty()) tried += ", ";
    tried += candidate.string();
    if (std::string why = passed_over(candidate); !why.empty()) tried += " (" + why + ")";
  }
  const std::string file = platform_file_name(name);
  if (candidates.empty())
    return fail(errc::module_not_found, std::string(name), "not found: the search path is empty",
                "give the host a module directory or set LIVEMOD_PATH");
  return fail(
      errc::module_not_found, std::string(name),
      "not found in any of " + std::to_string(candidates.size()) + " places (" + tried + ")",
      "put " + file + " in one of these directories, or add its directory to LIVEMOD_PATH");
}

}  // namespace livemod
