#include "resolve/order.h"

#include <cstdint>
#include <utility>

namespace livemod::resolve_detail {
namespace {

enum class mark : std::uint8_t { unseen, open, done };

// A depth-first walk along ordering edges, iterative so a chain of 100,000 modules cannot
// overflow the stack. It emits a node once all its dependencies are emitted (post-order) and
// remembers the targets of upward edges of every node it enters: they start the next
// generation. Marks persist across calls, so a node is emitted once over all generations.
class walker {
 public:
  explicit walker(const order_input& graph)
      : graph_(graph), marks_(graph.deps.size(), mark::unseen) {}

  bool seen(std::size_t node) const { return marks_[node] != mark::unseen; }

  void walk(std::size_t start, std::vector<std::size_t>& out, std::vector<std::size_t>& upward) {
    if (seen(start)) return;
    enter(start, upward);
    while (!stack_.empty()) {
      const std::size_t node = stack_.back().node;
      const std::vector<std::size_t>& edges = graph_.deps[node];
      if (stack_.back().next_edge < edges.size()) {
        const std::size_t dep = edges[stack_.back().next_edge++];
        // An open dependency is a cycle; callers refuse those first, and skipping it keeps
        // the walk finite if one gets through.
        if (!seen(dep)) enter(dep, upward);
      } else {
        marks_[node] = mark::done;
        out.push_back(node);
        stack_.pop_back();
      }
    }
  }

 private:
  struct frame {
    std::size_t node;
    std::size_t next_edge;
  };

  void enter(std::size_t node, std::vector<std::size_t>& upward) {
    marks_[node] = mark::open;
    stack_.push_back({node, 0});
    for (std::size_t target : graph_.upward[node])
      if (!seen(target)) upward.push_back(target);
  }

  const order_input& graph_;
  std::vector<mark> marks_;
  std::vector<frame> stack_;
};

// Runs `one_generation(walker, roots, out, next_roots)` until no upward target is left
// unplaced. Upward targets placed by then (through ordering edges) are skipped by the walker.
template <class generation>
std::vector<std::size_t> by_generation(const order_input& graph, generation one_generation) {
  walker w(graph);
  std::vector<std::size_t> out;
  out.reserve(graph.deps.size());
  std::vector<std::size_t> roots = graph.roots;
  std::vector<std::size_t> next;
  while (!roots.empty()) {
    next.clear();
    one_generation(w, roots, out, next);
    roots.swap(next);
  }
  return out;
}

}  // namespace

std::vector<std::size_t> find_cycle(const order_input& graph) {
  const std::size_t n = graph.deps.size();
  std::vector<mark> marks(n, mark::unseen);
  struct frame {
    std::size_t node;
    std::size_t next_edge;
  };
  std::vector<frame> stack;
  auto search_from = [&](std::size_t start) -> std::vector<std::size_t> {
    if (marks[start] != mark::unseen) return {};
    marks[start] = mark::open;
    stack.push_back({start, 0});
    while (!stack.empty()) {
      const std::size_t node = stack.back().node;
      const std::vector<std::size_t>& edges = graph.deps[node];
      if (stack.back().next_edge == edges.size()) {
        marks[node] = mark::done;
        stack.pop_back();
        continue;
      }
      const std::size_t dep = edges[stack.back().next_edge++];
      if (marks[dep] == mark::unseen) {
        marks[dep] = mark::open;
        stack.push_back({dep, 0});
      } else if (marks[dep] == mark::open) {
        // The open nodes are exactly the path on the stack: the cycle is its tail from dep.
        std::vector<std::size_t> cycle;
        bool on_cycle = false;
        for (const frame& f : stack) {
          on_cycle = on_cycle || f.node == dep;
          if (on_cycle) cycle.push_back(f.node);
        }
        return cycle;
      }
    }
    return {};
  };
  for (std::size_t root : graph.roots) {
    if (auto cycle = search_from(root); !cycle.empty()) return cycle;
  }
  for (std::size_t node = 0; node < n; ++node) {
    if (auto cycle = search_from(node); !cycle.empty()) return cycle;
  }
  return {};
}

std::vector<std::size_t> load_order(const order_input& graph) {
  return by_generation(graph, [](walker& w, const std::vector<std::size_t>& roots,
                                 std::vector<std::size_t>& out, std::vector<std::size_t>& next) {
    for (std::size_t root : roots) w.walk(root, out, next);
  });
}

std::vector<std::size_t> init_order(const order_input& graph) {
  // Listed in some generation's breadth-first list; a listed node is placed in that same
  // generation, so the marks need no reset between generations.
  std::vector<bool> listed(graph.deps.size(), false);
  std::vector<std::size_t> list;
  return by_generation(graph, [&](walker& w, const std::vector<std::size_t>& roots,
                                  std::vector<std::size_t>& out, std::vector<std::size_t>& next) {
    // What _dl_map_object_deps builds: the roots, then every dependency in the order a
    // breadth-first walk meets it. ld.so lists objects already initialized too; leaving them
    // out changes nothing, since nothing new is reached through them.
    list.clear();
    auto add = [&](std::size_t node) {
      if (w.seen(node) || listed[node]) return;
      listed[node] = true;
      list.push_back(node);
    };
    for (std::size_t root : roots) add(root);
    for (std::size_t i = 0; i < list.size(); ++i)
      for (std::size_t dep : graph.deps[list[i]]) add(dep);
    // What _dl_sort_maps_dfs does with that list: a depth-first search from each entry, last
    // to first. It keeps the reverse post-order and _dl_init runs it backwards, which is the
    // post-order itself.
    for (std::size_t i = list.size(); i-- > 0;) w.walk(list[i], out, next);
  });
}

}  // namespace livemod::resolve_detail
