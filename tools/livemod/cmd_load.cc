// `livemod load MODULE...`: loads modules and their dependencies through a registry, as a host
// would (resolve, preflight, map, initialize), prints where the time went, and unloads them.
// It is the one verb that runs module code: a smoke test of a module's startup and shutdown.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.h"
#include "livemod/registry.h"
#include "livemod/resolve.h"
#include "livemod/sdk/module.h"
#include "output.h"

namespace livemod::cli {

namespace {

struct load_cli_options {
  std::vector<std::string> targets;
  std::vector<std::string> paths;
  bool json = false;
};
load_cli_options opts;

std::string_view level_name(int level) {
  switch (level) {
    case LIVEMOD_LOG_DEBUG:
      return "debug";
    case LIVEMOD_LOG_INFO:
      return "info";
    case LIVEMOD_LOG_WARNING:
      return "warning";
    case LIVEMOD_LOG_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

struct log_line {
  std::string module;
  int level = LIVEMOD_LOG_INFO;
  std::string message;
};

// What the registry told us while it worked: the modules' log lines, and the order of the
// state changes that the timing rows do not show (initialization and unloading).
struct session_record {
  std::vector<log_line> log;
  std::vector<std::string> initialized;
  std::vector<std::string> unloaded;
};

// A word with a path separator is a module file, taken as is; anything else a name.
std::vector<module_ref> make_refs() {
  std::vector<module_ref> refs;
  for (const auto& t : opts.targets)
    refs.push_back(t.find('/') != std::string::npos ? module_ref::from_path(t)
                                                    : module_ref::named(t));
  return refs;
}

std::int64_t ns(std::chrono::nanoseconds d) { return static_cast<std::int64_t>(d.count()); }

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : ", ") + printable(w);
  return text;
}

nlohmann::ordered_json to_json(const std::vector<std::string>& requested,
                               const load_report& report, const session_record& rec) {
  auto modules = nlohmann::ordered_json::array();
  for (const module_timing& t : report.loaded)
    modules.push_back({{"name", t.module},
                       {"version", t.version},
                       {"namespace", t.namespace_name},
                       {"file", t.file.string()},
                       {"check_ns", ns(t.check)},
                       {"map_ns", ns(t.map)},
                       {"init_ns", ns(t.init)},
                       {"total_ns", ns(t.total())},
                       {"preflight_cached", t.preflight_cached}});
  auto log = nlohmann::ordered_json::array();
  for (const log_line& l : rec.log)
    log.push_back({{"module", l.module},
                   {"level", std::string(level_name(l.level))},
                   {"message", l.message}});
  return {{"requested", requested},
          {"modules", std::move(modules)},
          {"reused", report.reused},
          {"resolve_ns", ns(report.resolve)},
          {"total_ns", ns(report.total)},
          {"init_order", rec.initialized},
          {"unloaded", rec.unloaded},
          {"log", std::move(log)}};
}

void print_human(output& out, const std::vector<std::string>& requested,
                 const load_report& report, const session_record& rec) {
  std::ostream& os = out.out();
  const std::size_t dependencies =
      report.loaded.size() - std::min(report.loaded.size(), requested.size());
  os << out.paint("loaded", tone::green) << ' ' << joined(requested);
  if (dependencies != 0)
    os << " and " << count_noun(dependencies, "dependency", "dependencies");
  os << ", in load order:\n\n" << format_timings(report.loaded, report.resolve) << '\n';
  field_list tail;
  tail.add("init order", joined(rec.initialized)).add("unloaded", joined(rec.unloaded));
  tail.print(os);
}

// Unloads what this command loaded. A cascade from each handle still loaded, last requested
// first: the CLI holds every reference, so nothing outside it can still need these modules,
// and one requested module may need another (refuse_if_needed would then refuse).
result<void> unload_all(registry& host, std::vector<module_handle>& handles) {
  for (auto it = handles.rbegin(); it != handles.rend(); ++it) {
    if (!*it || !it->loaded()) continue;
    auto gone = host.unload(*it, unload_mode::cascade);
    if (!gone) return fail(gone.error());
  }
  return {};
}

}  // namespace

void setup_load(CLI::App& app) {
  app.add_option("MODULE", opts.targets,
                 "A module name or a module file (a path with '/'); several load as one graph")
      ->required()
      ->type_name("");
  add_module_path_option(app, opts.paths);
  app.add_flag("--json", opts.json, "Print one JSON object on stdout (docs/cli.md), errors too");
  app.footer(
      "This runs the modules' code: their constructors, on_load and on_unload. What they log\n"
      "goes to stderr as \"[module] message\".\n"
      "\n"
      "A name is looked for as libNAME.so in each --path DIR, then in LIVEMOD_PATH, then in\n"
      "/usr/local/lib/livemod and /usr/lib/livemod. A word with a '/' is a file, taken as is.\n"
      "\n"
      "Exit status:\n"
      "  0  every module loaded, initialized and unloaded\n"
      "  1  one did not (the error says which and why); nothing stays loaded\n"
      "  2  usage error");
}

int run_load(output& out) {
  auto fail_with = [&](const error& e) { return opts.json ? out.fail_json(e) : out.fail(e); };
  std::vector<std::filesystem::path> host_dirs(opts.paths.begin(), opts.paths.end());
  registry_options options;
  options.search = module_search_path::from_environment(std::move(host_dirs));
  for (const auto& ignored : options.search.ignored())
    out.err() << "livemod load: warning: LIVEMOD_PATH entry '" << printable(ignored)
              << "' ignored: " << (ignored.empty() ? "empty" : "not an absolute path") << '\n';

  session_record rec;
  // Module log lines are printed as they come, so a module that hangs in on_load has said
  // what it was doing; JSON also keeps them.
  options.log = [&](std::string_view module, int level, std::string_view message) {
    out.err() << '[' << printable(module) << "] "
              << (level == LIVEMOD_LOG_INFO ? "" : std::string(level_name(level)) + ": ")
              << printable(message) << '\n';
    rec.log.push_back({std::string(module), level, std::string(message)});
  };

  registry host(std::move(options));
  host.add_observer([&](const module_event& e) {
    if (e.state == module_state::initialized) rec.initialized.push_back(e.module);
    if (e.state == module_state::unloaded) rec.unloaded.push_back(e.module);
  });

  load_report report;
  const std::vector<module_ref> refs = make_refs();
  auto handles = host.load(refs, load_options{.where = default_namespace, .report = &report});
  if (!handles) return fail_with(handles.error());
  // The handles are empty once unloaded: keep the names (a path request gets its manifest's).
  std::vector<std::string> requested;
  for (const auto& h : *handles) requested.push_back(h.name());
  if (auto ok = unload_all(host, *handles); !ok) return fail_with(ok.error());

  if (opts.json)
    out.json(to_json(requested, report, rec));
  else
    print_human(out, requested, report, rec);
  return k_exit_ok;
}

}  // namespace livemod::cli
