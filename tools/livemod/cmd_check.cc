// `livemod check FILE`: the preflight a host runs before loading a module, from the command
// line. Everything is read as data; the verdict comes first, then what is wrong and what to do,
// then where each needed library was found.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.h"
#include "describe.h"
#include "livemod/check.h"
#include "output.h"

namespace livemod::cli {

namespace {

struct check_cli_options {
  std::string file;
  std::string host;
  std::optional<std::string> ld_library_path;
  bool json = false;
  bool allow_missing_manifest = false;
};
check_cli_options opts;

struct tally {
  std::size_t errors = 0, warnings = 0, infos = 0;
};

tally count(const check_report& r) {
  tally t;
  for (const auto& f : r.findings) {
    switch (f.level) {
      case severity::error:
        ++t.errors;
        break;
      case severity::warning:
        ++t.warnings;
        break;
      case severity::info:
        ++t.infos;
        break;
    }
  }
  return t;
}

std::string host_label(const check_report& r) {
  return r.host.empty() ? std::string("this process") : r.host.string();
}

const build_fingerprint* module_fingerprint(const check_report& r) {
  if (!r.module_manifest || !r.module_manifest->fingerprint) return nullptr;
  return &*r.module_manifest->fingerprint;
}

nlohmann::ordered_json to_json(const check_report& r) {
  const tally t = count(r);
  auto host_fp = fingerprint_json(r.host_fingerprint);
  host_fp["source"] = r.host_fingerprint_source;
  const build_fingerprint* module_fp = module_fingerprint(r);

  auto findings = nlohmann::ordered_json::array();
  for (const auto& f : r.findings)
    findings.push_back({{"severity", std::string(to_string(f.level))},
                        {"code", static_cast<int>(f.code)},
                        {"name", std::string(to_string(f.code))},
                        {"subject", f.subject},
                        {"message", f.message},
                        {"remedy", f.remedy}});

  auto libraries = nlohmann::ordered_json::array();
  for (const auto& lib : r.libraries) {
    auto tried = nlohmann::ordered_json::array();
    for (const auto& p : lib.tried) tried.push_back(p.string());
    libraries.push_back({{"name", lib.name},
                         {"needed_by", lib.needed_by},
                         {"path", lib.path ? nlohmann::ordered_json(lib.path->string())
                                           : nlohmann::ordered_json(nullptr)},
                         {"found_by", lib.found_by.empty() ? nlohmann::ordered_json(nullptr)
                                                           : nlohmann::ordered_json(lib.found_by)},
                         {"tried", std::move(tried)}});
  }

  return {{"file", opts.file},
          {"host", host_label(r)},
          {"compatible", r.compatible()},
          {"summary", {{"errors", t.errors}, {"warnings", t.warnings}, {"infos", t.infos}}},
          {"module_fingerprint",
           module_fp ? fingerprint_json(*module_fp) : nlohmann::ordered_json(nullptr)},
          {"host_fingerprint", std::move(host_fp)},
          {"findings", std::move(findings)},
          {"libraries", std::move(libraries)}};
}

std::string verdict(const output& out, const check_report& r) {
  const tally t = count(r);
  std::vector<std::string> parts;
  if (t.errors != 0) parts.push_back(count_noun(t.errors, "error", "errors"));
  if (t.warnings != 0) parts.push_back(count_noun(t.warnings, "warning", "warnings"));
  if (t.infos != 0) parts.push_back(count_noun(t.infos, "note", "notes"));
  std::string s =
      r.compatible() ? out.paint("compatible", tone::green) : out.paint("incompatible", tone::red);
  for (std::size_t i = 0; i < parts.size(); ++i) s += (i == 0 ? ": " : ", ") + parts[i];
  return s;
}

// Human output says "note" for severity::info, as compilers do.
std::string severity_label(const output& out, severity s) {
  switch (s) {
    case severity::error:
      return out.paint("error", tone::red);
    case severity::warning:
      return out.paint("warning", tone::yellow);
    case severity::info:
      return out.paint("note", tone::bold);
  }
  return "note";
}

bool names_module(const std::string& needed_by, const check_report& r) {
  const auto& path = r.module.path;
  return needed_by.empty() || needed_by == opts.file || needed_by == path.string() ||
         needed_by == path.filename().string() || needed_by == r.module.soname;
}

void print_libraries(std::ostream& os, const check_report& r) {
  if (r.libraries.empty()) {
    os << "libraries: none needed\n";
    return;
  }
  os << "libraries:\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& lib : r.libraries) {
    std::string how = lib.found_by;
    // The module's own NEEDED entries are the common case; name the parent only for the rest.
    if (!names_module(lib.needed_by, r))
      how += (how.empty() ? "" : ", ") + ("needed by " + printable(lib.needed_by));
    if (!how.empty()) how = "(" + how + ")";
    rows.push_back(
        {printable(lib.name), "=>", lib.path ? printable(lib.path->string()) : "not found", how});
  }
  // Where a missing library was looked for is in its E404 finding above (and in "tried" with
  // --json); repeating the list here would only push the table apart.
  print_columns(os, rows, 2);
}

int print_human(output& out, const check_report& r) {
  std::ostream& os = out.out();
  os << verdict(out, r) << '\n';

  std::string module_fp = "none (no manifest)";
  if (const build_fingerprint* fp = module_fingerprint(r))
    module_fp = fingerprint_line(*fp);
  else if (r.module_manifest)
    module_fp = "none (the manifest has no fingerprint)";
  else if (r.module.manifest_json)
    module_fp = "unknown (the manifest is invalid)";
  field_list head;
  head.add("module", printable(opts.file))
      .add("module fingerprint", module_fp)
      .add("host", printable(host_label(r)))
      .add("host fingerprint",
           fingerprint_line(r.host_fingerprint) + " (" + r.host_fingerprint_source + ")");
  head.print(os);

  // Findings come most severe first; a blank line sets each severity apart.
  std::optional<severity> previous;
  for (const auto& f : r.findings) {
    if (f.level != previous) os << '\n';
    previous = f.level;
    os << severity_label(out, f.level) << "[E" << static_cast<int>(f.code)
       << "]: " << printable(f.message) << '\n';
    if (!f.remedy.empty()) os << "  remedy: " << printable(f.remedy) << '\n';
  }

  os << '\n';
  print_libraries(os, r);
  return r.compatible() ? k_exit_ok : k_exit_failed;
}

}  // namespace

void setup_check(CLI::App& app) {
  app.add_option("FILE", opts.file, "The module to check (it is not loaded)")
      ->required()
      ->type_name("");
  app.add_option("--host", opts.host,
                 "The executable that will load the module (default: livemod itself)")
      ->type_name("EXE");
  app.add_option("--ld-library-path", opts.ld_library_path,
                 "LD_LIBRARY_PATH as the host will see it (default: this environment's)")
      ->type_name("DIRS");
  app.add_flag("--allow-missing-manifest", opts.allow_missing_manifest,
               "Accept a plain shared library without a manifest (a warning, not an error)");
  app.add_flag("--json", opts.json, "Print one JSON object on stdout (docs/cli.md), errors too");
  app.footer(
      "Exit status:\n"
      "  0  compatible (warnings and notes allowed)\n"
      "  1  incompatible, or the module or host cannot be read\n"
      "  2  usage error");
}

int run_check(output& out) {
  check_options options;
  options.host = opts.host;
  options.ld_library_path = opts.ld_library_path;
  options.allow_missing_manifest = opts.allow_missing_manifest;
  auto report = check(opts.file, options);
  if (!report) return opts.json ? out.fail_json(report.error()) : out.fail(report.error());
  if (opts.json) {
    out.json(to_json(*report));
    return report->compatible() ? k_exit_ok : k_exit_failed;
  }
  return print_human(out, *report);
}

}  // namespace livemod::cli
