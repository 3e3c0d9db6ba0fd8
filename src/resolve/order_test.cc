#include "resolve/order.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <vector>

namespace livemod::resolve_detail {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

order_input graph_of(std::size_t n, std::vector<std::size_t> roots) {
  order_input g;
  g.deps.resize(n);
  g.upward.resize(n);
  g.roots = std::move(roots);
  return g;
}

// The position of every node in `order`, checking each appears once.
std::vector<std::size_t> positions(const std::vector<std::size_t>& order, std::size_t n) {
  std::vector<std::size_t> at(n, n);
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(at[order[i]], n) << "node " << order[i] << " appears twice";
    at[order[i]] = i;
  }
  return at;
}

// The issue's own example: a module linked -lm1 -lm4 gets m4 initialized first on glibc 2.36;
// loading keeps the order asked for.
TEST(Order, SiblingsInitializeLikeGlibcAndLoadInRequestOrder) {
  const std::size_t m1 = 0, m4 = 1;
  order_input g = graph_of(2, {m1, m4});
  EXPECT_THAT(init_order(g), ElementsAre(m4, m1));
  EXPECT_THAT(load_order(g), ElementsAre(m1, m4));
}

TEST(Order, ChainRunsDeepestFirst) {
  const std::size_t a = 0, b = 1, c = 2;
  order_input g = graph_of(3, {a});
  g.deps[a] = {b};
  g.deps[b] = {c};
  EXPECT_THAT(load_order(g), ElementsAre(c, b, a));
  EXPECT_THAT(init_order(g), ElementsAre(c, b, a));
}

// a -> {b, c}, b -> d, c -> d. The breadth-first list is a b c d; the depth-first search from
// its end places d, then c, then b, then a. Loading walks a's dependencies in order: b's
// subtree first.
TEST(Order, DiamondFollowsGlibcForInitAndDepthFirstForLoad) {
  const std::size_t a = 0, b = 1, c = 2, d = 3;
  order_input g = graph_of(4, {a});
  g.deps[a] = {b, c};
  g.deps[b] = {d};
  g.deps[c] = {d};
  EXPECT_THAT(init_order(g), ElementsAre(d, c, b, a));
  EXPECT_THAT(load_order(g), ElementsAre(d, b, c, a));
}

// Breadth-first listing matters: x -> {y, z}, y -> w, z unrelated to w. The list is x y z w;
// from its end: w, then z, then y (w already placed), then x.
TEST(Order, InitUsesTheBreadthFirstListBackwards) {
  const std::size_t x = 0, y = 1, z = 2, w = 3;
  order_input g = graph_of(4, {x});
  g.deps[x] = {y, z};
  g.deps[y] = {w};
  EXPECT_THAT(init_order(g), ElementsAre(w, z, y, x));
  EXPECT_THAT(load_order(g), ElementsAre(w, y, z, x));
}

TEST(Order, UnrelatedModulesLoadInTheOrderAsked) {
  const std::size_t a = 0, b = 1, c = 2, d = 3;
  order_input g = graph_of(4, {c, a, d});
  g.deps[d] = {b};
  EXPECT_THAT(load_order(g), ElementsAre(c, a, b, d));
  // Reversed roots give the reversed order: it is the request that decides, not the index.
  g.roots = {d, a, c};
  EXPECT_THAT(load_order(g), ElementsAre(b, d, a, c));
}

TEST(Order, UpwardTargetComesAfterInBothOrders) {
  // The usual shape: u uses a, and a calls back up into u.
  const std::size_t a = 0, u = 1, v = 2;
  order_input g = graph_of(3, {a});
  g.upward[a] = {u};
  g.deps[u] = {a, v};
  EXPECT_THAT(load_order(g), ElementsAre(a, v, u));
  EXPECT_THAT(init_order(g), ElementsAre(a, v, u));
  EXPECT_THAT(find_cycle(g), IsEmpty());
}

TEST(Order, UpwardTargetAlsoRequiredIsOrderedByTheRequiredEdge) {
  const std::size_t a = 0, b = 1, u = 2;
  order_input g = graph_of(3, {a, b});
  g.upward[a] = {u};
  g.deps[b] = {u};
  EXPECT_THAT(init_order(g), ElementsAre(u, b, a));
  EXPECT_THAT(load_order(g), ElementsAre(a, u, b));
}

TEST(Order, UpwardTargetsChainIntoLaterGenerations) {
  const std::size_t a = 0, u = 1, w = 2;
  order_input g = graph_of(3, {a});
  g.upward[a] = {u};
  g.upward[u] = {w};
  EXPECT_THAT(load_order(g), ElementsAre(a, u, w));
  EXPECT_THAT(init_order(g), ElementsAre(a, u, w));
}

TEST(Order, FindsARequiredCycleInEdgeOrder) {
  const std::size_t r = 0, a = 1, b = 2, c = 3;
  order_input g = graph_of(4, {r});
  g.deps[r] = {a};
  g.deps[a] = {b};
  g.deps[b] = {c};
  g.deps[c] = {a};
  EXPECT_THAT(find_cycle(g), ElementsAre(a, b, c));
}

TEST(Order, FindsASelfLoop) {
  order_input g = graph_of(1, {0});
  g.deps[0] = {0};
  EXPECT_THAT(find_cycle(g), ElementsAre(0));
}

TEST(Order, FindsACycleReachedOnlyThroughAnUpwardEdge) {
  const std::size_t a = 0, u = 1, v = 2;
  order_input g = graph_of(3, {a});
  g.upward[a] = {u};
  g.deps[u] = {v};
  g.deps[v] = {u};
  EXPECT_THAT(find_cycle(g), ElementsAre(u, v));
}

TEST(Order, ADiamondIsNoCycle) {
  order_input g = graph_of(4, {0});
  g.deps[0] = {1, 2};
  g.deps[1] = {3};
  g.deps[2] = {3};
  EXPECT_THAT(find_cycle(g), IsEmpty());
}

// A chain deeper than any call stack: the walks are iterative.
TEST(Order, DeepChainDoesNotRecurse) {
  const std::size_t n = 200'000;
  order_input g = graph_of(n, {0});
  for (std::size_t i = 0; i + 1 < n; ++i) g.deps[i] = {i + 1};
  EXPECT_THAT(find_cycle(g), IsEmpty());
  const auto load = load_order(g);
  const auto init = init_order(g);
  ASSERT_EQ(load.size(), n);
  ASSERT_EQ(init.size(), n);
  EXPECT_EQ(load.front(), n - 1);
  EXPECT_EQ(init.back(), 0u);
}

// On random DAGs with upward edges: each order holds every reachable node once, every node
// comes after its ordering dependencies, and an upward target that nothing orders comes
// after the module naming it.
TEST(Order, RandomGraphsKeepEveryConstraint) {
  std::mt19937 rng(20240603);
  for (int round = 0; round < 200; ++round) {
    const std::size_t n = 1 + rng() % 40;
    order_input g = graph_of(n, {});
    std::vector<bool> has_parent(n, false);
    for (std::size_t i = 1; i < n; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (rng() % 6 == 0) {
          g.deps[i].push_back(j);
          has_parent[j] = true;
        } else if (rng() % 25 == 0) {
          g.upward[j].push_back(i);  // upward points up: from a dependency to a dependent
        }
      }
    }
    for (std::size_t i = n; i-- > 0;)
      if (!has_parent[i] && rng() % 2 == 0) g.roots.push_back(i);
    if (g.roots.empty()) g.roots.push_back(n - 1);
    ASSERT_THAT(find_cycle(g), IsEmpty());

    // Generation 0: what the roots reach through ordering edges alone.
    std::vector<bool> first(n, false);
    std::vector<std::size_t> todo = g.roots;
    while (!todo.empty()) {
      const std::size_t x = todo.back();
      todo.pop_back();
      if (first[x]) continue;
      first[x] = true;
      for (std::size_t d : g.deps[x]) todo.push_back(d);
    }

    for (const auto& order : {load_order(g), init_order(g)}) {
      // Reachable through any edge.
      std::vector<bool> reach(n, false);
      todo = g.roots;
      while (!todo.empty()) {
        const std::size_t x = todo.back();
        todo.pop_back();
        if (reach[x]) continue;
        reach[x] = true;
        for (std::size_t d : g.deps[x]) todo.push_back(d);
        for (std::size_t u : g.upward[x]) todo.push_back(u);
      }
      std::size_t reachable = 0;
      for (bool r : reach) reachable += r ? 1 : 0;
      ASSERT_EQ(order.size(), reachable) << "round " << round;
      const auto at = positions(order, n);
      for (std::size_t i = 0; i < n; ++i) {
        if (!reach[i]) continue;
        for (std::size_t d : g.deps[i]) EXPECT_LT(at[d], at[i]) << "round " << round;
        for (std::size_t u : g.upward[i]) {
          if (first[i] && !first[u]) {
            EXPECT_GT(at[u], at[i]) << "round " << round;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace livemod::resolve_detail
