#include <deque>
#include <exception>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "livemod/resolve.h"
#include "resolve/order.h"

namespace livemod {
namespace {

std::string range_text(const version_range& range) {
  return range.text().empty() ? std::string("*") : range.text();
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  if (a == b) return true;
  std::error_code ec;
  const bool equal = std::filesystem::equivalent(a, b, ec);
  return !ec && equal;
}

// The provider's error, with who needed the module added to its cause.
error needed_by(const error& e, std::string_view dependent) {
  return error(e.code(), e.file(), e.cause() + " (needed by " + std::string(dependent) + ")",
               e.remedy())
      .with_os_text(e.os_text());
}

// Builds the graph breadth-first. Nodes a name lookup found but no edge took (a weak
// dependency outside its range) wait in `lookups_`, so nothing is searched or read twice.
class graph_builder {
 public:
  explicit graph_builder(const node_provider& provider) : provider_(provider) {}

  result<std::vector<std::size_t>> add_requests(std::span<const module_ref> requests);
  result<void> add_dependencies();

  std::vector<resolved_module> modules_;
  std::unordered_map<std::string, std::size_t> index_;
  // What each module declared, with the parsed ranges; a deque so that references to one
  // module's list survive adding modules.
  std::deque<std::vector<dependency>> declared_;

 private:
  result<module_node> call(const module_ref& ref);
  result<module_node>& lookup(const std::string& name);
  std::size_t add(module_node node);
  result<void> resolve_edge(std::size_t dependent, std::size_t edge);

  const node_provider& provider_;
  std::unordered_map<std::string, result<module_node>> lookups_;
};

result<module_node> graph_builder::call(const module_ref& ref) {
  // A provider is the caller's code; whatever it throws must not leave resolve_graph.
  try {
    return provider_(ref);
  } catch (const std::exception& e) {
    return fail(errc::io_error, ref.display(),
                std::string("the module provider threw an exception: ") + e.what(),
                "make the provider return an error instead");
  } catch (...) {
    return fail(errc::io_error, ref.display(), "the module provider threw an exception",
                "make the provider return an error instead");
  }
}

result<module_node>& graph_builder::lookup(const std::string& name) {
  auto it = lookups_.find(name);
  if (it == lookups_.end()) {
    result<module_node> found = call(module_ref::named(name));
    if (found && found->name != name)
      found = fail(errc::bad_module_name, found->file.string(),
                   "was given for the module '" + name + "' but is named '" + found->name + "'",
                   "give each module the name it is asked for");
    it = lookups_.emplace(name, std::move(found)).first;
  }
  return it->second;
}

std::size_t graph_builder::add(module_node node) {
  const std::size_t index = modules_.size();
  resolved_module m;
  m.name = std::move(node.name);
  m.version = std::move(node.version);
  m.file = std::move(node.file);
  m.dependencies.reserve(node.dependencies.size());
  for (const dependency& d : node.dependencies)
    m.dependencies.push_back({d.name, d.kind, range_text(d.range), std::nullopt, {}});
  index_.emplace(m.name, index);
  modules_.push_back(std::move(m));
  declared_.push_back(std::move(node.dependencies));
  return index;
}

result<std::vector<std::size_t>> graph_builder::add_requests(std::span<const module_ref> requests) {
  std::vector<std::size_t> slot(requests.size());
  // Paths first: a file the host names binds its module name for the whole graph.
  for (std::size_t r = 0; r < requests.size(); ++r) {
    if (!requests[r].is_path()) continue;
    auto node = call(requests[r]);
    if (!node) return fail(node.error());
    if (auto ok = check_module_name(node->name); !ok)
      return fail(errc::bad_module_name, requests[r].display(),
                  "carries the module name '" + node->name + "': " + ok.error().cause(),
                  ok.error().remedy());
    if (auto it = index_.find(node->name); it != index_.end()) {
      const resolved_module& other = modules_[it->second];
      if (!same_file(other.file, node->file))
        return fail(errc::duplicate_module, node->name,
                    "two files carry this module name: " + other.file.string() + " and " +
                        node->file.string(),
                    "remove one of them, or give one another name in its manifest");
      slot[r] = it->second;
    } else {
      slot[r] = add(std::move(*node));
    }
  }
  for (std::size_t r = 0; r < requests.size(); ++r) {
    if (requests[r].is_path()) continue;
    const std::string& name = requests[r].name();
    if (auto ok = check_module_name(name); !ok) return fail(ok.error());
    if (auto it = index_.find(name); it != index_.end()) {
      slot[r] = it->second;
      continue;
    }
    result<module_node>& node = lookup(name);
    if (!node) return fail(node.error());
    slot[r] = add(std::move(*node));
    lookups_.erase(name);
  }
  std::vector<std::size_t> requested;
  std::vector<bool> seen(modules_.size(), false);
  for (std::size_t index : slot) {
    if (seen[index]) continue;
    seen[index] = true;
    requested.push_back(index);
    modules_[index].reasons.push_back({std::nullopt, dependency_kind::required, {}});
  }
  return requested;
}

result<void> graph_builder::resolve_edge(std::size_t dependent, std::size_t edge) {
  const dependency& d = declared_[dependent][edge];
  const std::string& who = modules_[dependent].name;
  const bool weak = d.kind == dependency_kind::weak;
  auto mark_absent = [&](std::string reason) -> result<void> {
    modules_[dependent].dependencies[edge].absent_reason = std::move(reason);
    return {};
  };

  std::optional<std::size_t> target;
  const semver* version = nullptr;
  const std::filesystem::path* file = nullptr;
  if (auto it = index_.find(d.name); it != index_.end()) {
    target = it->second;
    version = &modules_[*target].version;
    file = &modules_[*target].file;
  } else {
    if (auto ok = check_module_name(d.name); !ok)
      return fail(errc::bad_module_name, who, "depends on '" + d.name + "': " + ok.error().cause(),
                  "fix the dependency's name in " + who + "'s manifest");
    result<module_node>& node = lookup(d.name);
    if (!node) {
      const error& e = node.error();
      if (e.code() != errc::module_not_found) return fail(needed_by(e, who));
      if (weak) return mark_absent(e.cause());
      const char* needed = d.kind == dependency_kind::upward ? "needed upward by " : "required by ";
      return fail(errc::module_not_found, d.name,
                  needed + who + " (" + range_text(d.range) + ") but " + e.cause(), e.remedy());
    }
    version = &node->version;
    file = &node->file;
  }

  if (!d.range.contains(*version)) {
    const std::string found = d.name + " is " + version->to_string() + " (" + file->string() + ")";
    if (weak) return mark_absent(found + ", outside " + range_text(d.range));
    return fail(errc::version_unsatisfied, who,
                "needs " + d.name + " " + range_text(d.range) + " but " + found,
                "put a " + d.name + " that satisfies " + range_text(d.range) +
                    " first on the search path, or change the range in " + who + "'s manifest");
  }

  if (!target) {
    target = add(std::move(*lookup(d.name)));
    lookups_.erase(d.name);
  }
  modules_[dependent].dependencies[edge].target = *target;
  modules_[*target].reasons.push_back({dependent, d.kind, range_text(d.range)});
  return {};
}

result<void> graph_builder::add_dependencies() {
  // modules_ grows while we walk it: that is the breadth-first queue.
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    for (std::size_t e = 0; e < declared_[i].size(); ++e) {
      if (auto ok = resolve_edge(i, e); !ok) return ok;
    }
  }
  return {};
}

resolve_detail::order_input order_edges(const std::vector<resolved_module>& modules,
                                        std::vector<std::size_t> roots) {
  resolve_detail::order_input input;
  input.deps.resize(modules.size());
  input.upward.resize(modules.size());
  for (std::size_t i = 0; i < modules.size(); ++i) {
    for (const resolved_dependency& d : modules[i].dependencies) {
      if (!d.present()) continue;
      (d.kind == dependency_kind::upward ? input.upward : input.deps)[i].push_back(*d.target);
    }
  }
  input.roots = std::move(roots);
  return input;
}

}  // namespace

bool resolved_module::requested() const noexcept {
  for (const module_reason& r : reasons)
    if (!r.dependent) return true;
  return false;
}

std::optional<std::size_t> module_graph::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::string module_graph::why(std::size_t module) const {
  std::string text;
  if (module >= modules_.size()) return text;
  for (const module_reason& r : modules_[module].reasons) {
    if (!text.empty()) text += "; ";
    if (!r.dependent) {
      text += "requested";
      continue;
    }
    switch (r.kind) {
      case dependency_kind::required:
        text += "required by ";
        break;
      case dependency_kind::weak:
        text += "weak dependency of ";
        break;
      case dependency_kind::upward:
        text += "upward dependency of ";
        break;
    }
    text += modules_[*r.dependent].name + " (" + r.range + ")";
  }
  return text;
}

result<module_graph> resolve_graph(std::span<const module_ref> requests,
                                   const node_provider& provider) {
  graph_builder builder(provider);
  auto requested = builder.add_requests(requests);
  if (!requested) return fail(requested.error());
  if (auto ok = builder.add_dependencies(); !ok) return fail(ok.error());

  for (std::size_t i = 0; i < builder.modules_.size(); ++i)
    builder.modules_[i].declared = std::move(builder.declared_[i]);
  module_graph graph;
  graph.modules_ = std::move(builder.modules_);
  graph.index_ = std::move(builder.index_);
  graph.requested_ = std::move(*requested);
  const resolve_detail::order_input edges = order_edges(graph.modules_, graph.requested_);

  if (auto cycle = resolve_detail::find_cycle(edges); !cycle.empty()) {
    std::string path;
    for (std::size_t node : cycle) path += graph.modules_[node].name + " -> ";
    path += graph.modules_[cycle.front()].name;
    return fail(errc::dependency_cycle, graph.modules_[cycle.front()].name,
                "its dependencies form a cycle: " + path,
                "make one dependency on the cycle upward, or remove it");
  }
  graph.load_order_ = resolve_detail::load_order(edges);
  graph.init_order_ = resolve_detail::init_order(edges);
  return graph;
}

}  // namespace livemod
