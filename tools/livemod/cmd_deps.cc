// `livemod deps MODULE|DIR`: the dependency graph a host would load, read as data (nothing is
// loaded): every module with its version and file, the load order and the init order, and why
// each module is in the graph. Human output is a tree; --json the stable schema of
// docs/cli.md; --dot a Graphviz graph.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "commands.h"
#include "livemod/image.h"
#include "livemod/manifest.h"
#include "livemod/resolve.h"
#include "output.h"

namespace livemod::cli {

namespace {

namespace fs = std::filesystem;

struct deps_cli_options {
  std::string target;
  std::vector<std::string> paths;
  bool json = false;
  bool dot = false;
};
deps_cli_options opts;

// What the command line asks for: the refs, the host's module dirs, and (DIR) what was left
// out because it is no module.
struct request {
  std::vector<module_ref> refs;
  std::vector<fs::path> host_dirs;
  std::vector<fs::path> skipped;
};

bool is_module_file_name(const std::string& name) {
  return name.size() > 6 && name.starts_with("lib") && name.ends_with(".so");
}

// Every lib*.so in `dir` that carries a manifest, by name. A plain shared library there (a
// helper a module links to) is no module: it is skipped and reported, not an error. A file that
// cannot be read is requested anyway, so that its error is what the user sees.
result<request> directory_request(const fs::path& dir) {
  request req;
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (is_module_file_name(name) && fs::is_regular_file(it->path(), type_ec))
      files.push_back(it->path());
  }
  if (ec)
    return fail(errc::io_error, dir.string(), "cannot list the directory: " + ec.message(),
                "check that it exists and that you may read it");
  std::sort(files.begin(), files.end());
  for (auto& file : files) {
    auto img = read_image(file);
    if (img && !img->manifest_json) {
      req.skipped.push_back(std::move(file));
      continue;
    }
    req.refs.push_back(module_ref::from_path(std::move(file)));
  }
  if (req.refs.empty())
    return fail(errc::module_not_found, dir.string(),
                "the directory holds no module (no lib*.so with a livemod manifest)",
                "give a directory of modules, or a module's name or file");
  req.host_dirs.push_back(dir);
  return req;
}

// A word with a path separator is a file or a directory; "." and ".." are directories too
// (they can never be module names). Anything else is a module name, checked by the resolver.
result<request> make_request() {
  const std::string& target = opts.target;
  request req;
  const bool is_path = target.find('/') != std::string::npos || target == "." || target == "..";
  std::error_code ec;
  if (is_path && fs::is_directory(target, ec)) {
    auto dir = directory_request(target);
    if (!dir) return dir;
    req = std::move(*dir);
  } else if (is_path) {
    req.refs.push_back(module_ref::from_path(target));
  } else {
    req.refs.push_back(module_ref::named(target));
  }
  for (const auto& p : opts.paths) req.host_dirs.emplace_back(p);
  return req;
}

// An absent weak dependency: the edge and who named it, for the tree, the why lines and DOT.
struct absent_edge {
  std::size_t dependent;
  const resolved_dependency* dependency;
};

std::vector<absent_edge> absent_edges(const module_graph& g) {
  std::vector<absent_edge> edges;
  for (std::size_t i = 0; i < g.modules().size(); ++i)
    for (const auto& d : g.modules()[i].dependencies)
      if (!d.present()) edges.push_back({i, &d});
  return edges;
}

std::string names(const module_graph& g, const std::vector<std::size_t>& order) {
  std::string text;
  for (std::size_t i : order) text += (text.empty() ? "" : ", ") + g.modules()[i].name;
  return text;
}

// ---- human -------------------------------------------------------------------------------

// "(^1.0)", "(weak, ^1.0)", "(upward, ^2.0)": required is the usual kind, so it goes unsaid.
std::string edge_note(const resolved_dependency& d) {
  std::string note = "(";
  if (d.kind != dependency_kind::required) note += std::string(to_string(d.kind)) + ", ";
  return note + printable(d.range) + ")";
}

class tree_printer {
 public:
  tree_printer(const output& out, const module_graph& g, std::ostream& os)
      : out_(out), g_(g), os_(os), expanded_(g.modules().size(), false) {}

  // Prints `root`'s tree unless an earlier tree showed it already: each module's dependencies
  // are listed once, where it first appears, so a shared dependency is not repeated.
  void print_root(std::size_t root) {
    if (expanded_[root]) return;
    const resolved_module& m = g_.modules()[root];
    os_ << out_.paint(m.name, tone::bold) << ' ' << m.version.to_string() << '\n';
    expand(root, "");
  }

 private:
  void expand(std::size_t index, const std::string& prefix) {
    expanded_[index] = true;
    const auto& deps = g_.modules()[index].dependencies;
    for (std::size_t e = 0; e < deps.size(); ++e) {
      const resolved_dependency& d = deps[e];
      const bool last = e + 1 == deps.size();
      os_ << prefix << (last ? "`-- " : "+-- ");
      if (!d.present()) {
        os_ << printable(d.name) << ' ' << edge_note(d) << ": "
            << out_.paint("absent", tone::yellow) << '\n';
        continue;
      }
      const resolved_module& target = g_.modules()[*d.target];
      os_ << target.name << ' ' << target.version.to_string() << ' ' << edge_note(d);
      if (expanded_[*d.target]) {
        // Shown above (or being shown: a cycle through an upward edge).
        os_ << (target.dependencies.empty() ? "" : out_.paint(" [see above]", tone::dim)) << '\n';
        continue;
      }
      os_ << '\n';
      expand(*d.target, prefix + (last ? "    " : "|   "));
    }
  }

  const output& out_;
  const module_graph& g_;
  std::ostream& os_;
  std::vector<bool> expanded_;
};

int print_human(output& out, const module_graph& g) {
  std::ostream& os = out.out();
  tree_printer tree(out, g, os);
  for (std::size_t root : g.requested()) tree.print_root(root);

  os << "\nmodules:\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : g.modules())
    rows.push_back({m.name, m.version.to_string(), printable(m.file.string())});
  print_columns(os, rows, 2);

  os << '\n';
  field_list orders;
  orders.add("load order", names(g, g.load_order())).add("init order", names(g, g.init_order()));
  orders.print(os);

  os << "\nwhy:\n";
  rows.clear();
  for (std::size_t i = 0; i < g.modules().size(); ++i)
    rows.push_back({g.modules()[i].name, printable(g.why(i))});
  for (const absent_edge& a : absent_edges(g)) {
    const resolved_dependency& d = *a.dependency;
    rows.push_back({printable(d.name), out.paint("absent", tone::yellow) + ": weak dependency of " +
                                           g.modules()[a.dependent].name + " (" +
                                           printable(d.range) + "); " +
                                           printable(d.absent_reason)});
  }
  print_columns(os, rows, 2);
  return k_exit_ok;
}

// ---- JSON --------------------------------------------------------------------------------

nlohmann::ordered_json null_if_empty(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

nlohmann::ordered_json to_json(const module_graph& g, const module_search_path& search,
                               const request& req) {
  const auto& mods = g.modules();
  auto name_list = [&](const std::vector<std::size_t>& order) {
    auto list = nlohmann::ordered_json::array();
    for (std::size_t i : order) list.push_back(mods[i].name);
    return list;
  };

  auto modules = nlohmann::ordered_json::array();
  for (const auto& m : mods) {
    auto why = nlohmann::ordered_json::array();
    for (const module_reason& r : m.reasons) {
      if (!r.dependent)
        why.push_back({{"by", nullptr}, {"kind", "requested"}, {"range", nullptr}});
      else
        why.push_back({{"by", mods[*r.dependent].name},
                       {"kind", std::string(to_string(r.kind))},
                       {"range", r.range}});
    }
    auto deps = nlohmann::ordered_json::array();
    for (const auto& d : m.dependencies) {
      deps.push_back(
          {{"name", d.name},
           {"kind", std::string(to_string(d.kind))},
           {"range", d.range},
           {"target", d.present() ? nlohmann::ordered_json(mods[*d.target].name) : nullptr},
           {"version", d.present() ? nlohmann::ordered_json(mods[*d.target].version.to_string())
                                   : nullptr},
           {"absent_reason", d.present() ? nullptr : null_if_empty(d.absent_reason)}});
    }
    modules.push_back({{"name", m.name},
                       {"version", m.version.to_string()},
                       {"file", m.file.string()},
                       {"requested", m.requested()},
                       {"why", std::move(why)},
                       {"dependencies", std::move(deps)}});
  }

  auto search_path = nlohmann::ordered_json::array();
  for (const auto& e : search.entries())
    search_path.push_back({{"dir", e.dir.string()}, {"from", std::string(to_string(e.from))}});
  auto skipped = nlohmann::ordered_json::array();
  for (const auto& f : req.skipped) skipped.push_back(f.string());

  return {{"requested", name_list(g.requested())},
          {"modules", std::move(modules)},
          {"load_order", name_list(g.load_order())},
          {"init_order", name_list(g.init_order())},
          {"search_path", std::move(search_path)},
          {"skipped", std::move(skipped)}};
}

// ---- DOT ---------------------------------------------------------------------------------

// The inside of a DOT double-quoted string: '"' and '\' escaped, and control characters made
// visible as printable() does everywhere else. Callers join lines with the "\n" escape.
std::string dot_escape(std::string_view text) {
  std::string escaped;
  for (char c : printable(text)) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

std::string dot_quote(std::string_view text) { return '"' + dot_escape(text) + '"'; }

// Positions in an order, 1-based, by module index.
std::vector<std::size_t> ranks(const std::vector<std::size_t>& order, std::size_t size) {
  std::vector<std::size_t> rank(size, 0);
  for (std::size_t i = 0; i < order.size(); ++i) rank[order[i]] = i + 1;
  return rank;
}

// Node ids are module names (the grammar keeps them plain). An absent dependency gets an id of
// its own: a module of that name may be in the graph, at a version outside the weak range.
std::string absent_id(const std::string& name) { return dot_quote("absent " + name); }

void print_dot(std::ostream& os, const module_graph& g) {
  const auto& mods = g.modules();
  const auto load = ranks(g.load_order(), mods.size());
  const auto init = ranks(g.init_order(), mods.size());

  // The legend is the graph's label: the two orders and how to read the edges. "\l" ends a
  // left-justified line.
  os << "digraph livemod_deps {\n"
     << "  graph [fontname=\"Helvetica\", fontsize=10, labelloc=b, labeljust=l, label=\""
     << dot_escape("load order: " + names(g, g.load_order())) << "\\l"
     << dot_escape("init order: " + names(g, g.init_order())) << "\\l"
     << "edges: solid required, dashed weak, dotted upward (it points up, at the module "
        "linked upward)\\lbold: requested; grey: absent weak dependency\\l\"];\n"
     << "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
     << "  edge [fontname=\"Helvetica\", fontsize=9];\n\n";

  for (std::size_t i = 0; i < mods.size(); ++i) {
    const resolved_module& m = mods[i];
    os << "  " << dot_quote(m.name) << " [label=\"" << dot_escape(m.name) << '@'
       << m.version.to_string() << "\\nload " << load[i] << ", init " << init[i]
       << "\", tooltip=" << dot_quote(m.file.string()) << ", load_order=" << load[i]
       << ", init_order=" << init[i] << (m.requested() ? ", penwidth=2" : "") << "];\n";
  }
  std::vector<std::string> absent_names;
  for (const absent_edge& a : absent_edges(g)) {
    const std::string& name = a.dependency->name;
    if (std::find(absent_names.begin(), absent_names.end(), name) != absent_names.end()) continue;
    absent_names.push_back(name);
    os << "  " << absent_id(name) << " [label=\"" << dot_escape(name)
       << "\\nabsent\", style=\"rounded,dashed\", color=gray50, fontcolor=gray50];\n";
  }

  os << '\n';
  for (std::size_t i = 0; i < mods.size(); ++i) {
    for (const resolved_dependency& d : mods[i].dependencies) {
      const std::string from = dot_quote(mods[i].name);
      const std::string to = d.present() ? dot_quote(mods[*d.target].name) : absent_id(d.name);
      const std::string label = "label=" + dot_quote(d.range);
      switch (d.kind) {
        case dependency_kind::required:
          os << "  " << from << " -> " << to << " [" << label << "];\n";
          break;
        case dependency_kind::weak:
          os << "  " << from << " -> " << to << " [" << label << ", style=dashed"
             << (d.present() ? "" : ", color=gray50, tooltip=" + dot_quote(d.absent_reason))
             << "];\n";
          break;
        case dependency_kind::upward:
          // Written from the target with dir=back: the arrow still points at the target, but
          // the layout ranks the target above the module, as an upward link means.
          os << "  " << to << " -> " << from << " [" << label
             << ", style=dotted, dir=back, arrowtail=normal];\n";
          break;
      }
    }
  }
  os << "}\n";
}

}  // namespace

void setup_deps(CLI::App& app) {
  app.add_option("MODULE|DIR", opts.target,
                 "A module name, a module file (a path with '/'), or a directory of modules")
      ->required()
      ->type_name("");
  add_module_path_option(app, opts.paths);
  auto* json = app.add_flag("--json", opts.json,
                            "Print one JSON object on stdout (docs/cli.md), errors too");
  auto* dot = app.add_flag("--dot", opts.dot, "Print the graph in Graphviz's DOT language");
  json->excludes(dot);
  app.footer(
      "A name is looked for as libNAME.so in each --path DIR, then in LIVEMOD_PATH, then in\n"
      "/usr/local/lib/livemod and /usr/lib/livemod. A word with a '/' is a file, or a directory:\n"
      "then every lib*.so module in it is requested, in name order, and it is searched first.\n"
      "Nothing is loaded: manifests are read from the files.\n"
      "\n"
      "Exit status:\n"
      "  0  the graph resolves (absent weak dependencies allowed)\n"
      "  1  it does not: a bad name, a module not found, a cycle of required dependencies, a\n"
      "     version outside a range, an unreadable module\n"
      "  2  usage error");
}

int run_deps(output& out) {
  auto fail_with = [&](const error& e) { return opts.json ? out.fail_json(e) : out.fail(e); };
  auto req = make_request();
  if (!req) return fail_with(req.error());
  const module_search_path search = module_search_path::from_environment(req->host_dirs);
  for (const auto& ignored : search.ignored())
    out.err() << "livemod deps: warning: LIVEMOD_PATH entry '" << printable(ignored)
              << "' ignored: " << (ignored.empty() ? "empty" : "not an absolute path") << '\n';
  for (const auto& file : req->skipped)
    out.err() << "livemod deps: note: skipped " << printable(file.string())
              << ": no livemod manifest (a plain shared library)\n";

  auto graph = resolve_graph(req->refs, manifest_provider(search));
  if (!graph) {
    const int status = fail_with(graph.error());
    // A bare word is a name even when a directory has it (a module "app" beside a source
    // folder app/ must stay reachable); say how to mean the directory.
    std::error_code ec;
    if (graph.error().code() == errc::module_not_found && graph.error().file() == opts.target &&
        fs::is_directory(opts.target, ec))
      out.err() << "livemod deps: note: '" << printable(opts.target)
                << "' is read as a module name; for the directory, write '"
                << printable(opts.target) << "/'\n";
    return status;
  }
  if (opts.json) {
    out.json(to_json(*graph, search, *req));
    return k_exit_ok;
  }
  if (opts.dot) {
    print_dot(out.out(), *graph);
    return k_exit_ok;
  }
  return print_human(out, *graph);
}

}  // namespace livemod::cli
