// The ordering core of the resolve layer, kept pure so it can be tested on graphs written by
// hand and checked against the real dynamic linker: nodes are indices, edges are lists of
// indices in manifest order (which is link order: it decides ties).
//
// The rules are in livemod/resolve.h; docs/resolve.md walks through examples.
#pragma once

#include <cstddef>
#include <vector>

namespace livemod::resolve_detail {

struct order_input {
  // Edges that order: required edges, and weak edges whose target is present.
  std::vector<std::vector<std::size_t>> deps;
  // Upward edges: they bring their target into the graph but never order it.
  std::vector<std::vector<std::size_t>> upward;
  // The requested nodes, in the order asked, each once.
  std::vector<std::size_t> roots;
};

// A cycle of `deps` edges, as the nodes on it in edge order (a, b, c for a -> b -> c -> a),
// or empty when there is none. The search starts from the roots, in order, then from every
// other node by index, so the cycle reported is the same from run to run.
std::vector<std::size_t> find_cycle(const order_input& graph);

// The order to load in: generation by generation (upward targets start the next one), each a
// depth-first post-order from its roots in the order given. Holds every node reachable from
// the roots through any edge, once. Precondition: find_cycle(graph) is empty (with a cycle
// the result still holds every node once, but some node comes before a dependency).
std::vector<std::size_t> load_order(const order_input& graph);

// The order to initialize in: generation by generation, each in glibc's DFS order (the
// generation listed breadth-first from its roots, then a depth-first post-order started from
// each node of that list, last to first). Same coverage and precondition as load_order.
std::vector<std::size_t> init_order(const order_input& graph);

}  // namespace livemod::resolve_detail
