#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "livemod/resolve.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

dependency dep(std::string name, std::string_view range,
               dependency_kind kind = dependency_kind::required) {
  return {std::move(name), parse_version_range(range).value(), kind};
}
dependency weak(std::string name, std::string_view range = "*") {
  return dep(std::move(name), range, dependency_kind::weak);
}
dependency upward(std::string name, std::string_view range = "*") {
  return dep(std::move(name), range, dependency_kind::upward);
}

module_node node(std::string name, std::string_view version = "1.0.0",
                 std::vector<dependency> deps = {}) {
  std::filesystem::path file = "/m/lib" + name + ".so";
  return {std::move(name), parse_semver(version).value(), std::move(file), std::move(deps)};
}

std::vector<module_ref> named(std::initializer_list<const char*> names) {
  std::vector<module_ref> refs;
  for (const char* n : names) refs.push_back(module_ref::named(n));
  return refs;
}

std::vector<std::string> names(const module_graph& g, const std::vector<std::size_t>& order) {
  std::vector<std::string> out;
  for (std::size_t i : order) out.push_back(g.modules()[i].name);
  return out;
}

result<module_graph> resolve(std::vector<module_ref> requests, std::vector<module_node> nodes) {
  return resolve_graph(requests, memory_provider(std::move(nodes)));
}

TEST(ResolveGraph, DependenciesFirstAndWhyEachModuleIsThere) {
  auto g = resolve(named({"app"}), {node("app", "1.0.0", {dep("math", "^2.0"), dep("log", "*")}),
                                    node("math", "2.1.0", {dep("log", ">=1")}), node("log")});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(names(*g, g->load_order()), ElementsAre("log", "math", "app"));
  EXPECT_THAT(names(*g, g->init_order()), ElementsAre("log", "math", "app"));
  EXPECT_EQ(g->why(*g->find("app")), "requested");
  EXPECT_EQ(g->why(*g->find("log")), "required by app (*); required by math (>=1)");
  EXPECT_TRUE(g->modules()[*g->find("app")].requested());
  EXPECT_FALSE(g->modules()[*g->find("math")].requested());
  EXPECT_EQ(g->modules()[*g->find("math")].dependencies[0].target, g->find("log"));
  EXPECT_FALSE(g->find("nothing").has_value());
  EXPECT_EQ(g->why(99), "");
}

TEST(ResolveGraph, MissingRequiredDependencyNamesWhoNeedsIt) {
  auto g = resolve(named({"app"}), {node("app", "1.0.0", {dep("math", "^2.0")})});
  EXPECT_THAT(g, HasCodeAndMessage(errc::module_not_found,
                                   HasSubstr("math: required by app (^2.0) but not found")));
}

TEST(ResolveGraph, MissingUpwardDependencyIsAnErrorToo) {
  auto g = resolve(named({"app"}), {node("app", "1.0.0", {upward("host")})});
  EXPECT_THAT(g, HasCodeAndMessage(errc::module_not_found,
                                   HasSubstr("host: needed upward by app (*) but not found")));
}

TEST(ResolveGraph, MissingRequestedModuleIsNotFound) {
  EXPECT_THAT(resolve(named({"ghost"}), {node("app")}),
              HasCodeAndMessage(errc::module_not_found, HasSubstr("ghost: not found")));
}

TEST(ResolveGraph, MissingWeakDependencyWorksAndTheEdgeIsAbsent) {
  auto g = resolve(named({"app"}),
                   {node("app", "1.0.0", {weak("metrics"), dep("log", "*")}), node("log")});
  ASSERT_THAT(g, IsOk());
  const resolved_module& app = g->modules()[*g->find("app")];
  ASSERT_EQ(app.dependencies.size(), 2u);
  EXPECT_FALSE(app.dependencies[0].present());
  EXPECT_THAT(app.dependencies[0].absent_reason, HasSubstr("not found"));
  EXPECT_TRUE(app.dependencies[1].present());
  EXPECT_FALSE(g->find("metrics").has_value());
  EXPECT_THAT(names(*g, g->init_order()), ElementsAre("log", "app"));
}

TEST(ResolveGraph, WeakDependencyOutsideItsRangeIsAbsentAndNotLoaded) {
  auto g = resolve(named({"app"}),
                   {node("app", "1.0.0", {weak("metrics", "^2.0")}), node("metrics", "1.4.2")});
  ASSERT_THAT(g, IsOk());
  const resolved_dependency& d = g->modules()[0].dependencies[0];
  EXPECT_FALSE(d.present());
  EXPECT_EQ(d.absent_reason, "metrics is 1.4.2 (/m/libmetrics.so), outside ^2.0");
  EXPECT_FALSE(g->find("metrics").has_value());
  EXPECT_THAT(names(*g, g->load_order()), ElementsAre("app"));
}

TEST(ResolveGraph, PresentWeakDependencyOrdersLikeARequiredOne) {
  auto g = resolve(named({"app", "metrics"}),
                   {node("app", "1.0.0", {weak("metrics")}), node("metrics")});
  ASSERT_THAT(g, IsOk());
  EXPECT_TRUE(g->modules()[*g->find("app")].dependencies[0].present());
  EXPECT_THAT(names(*g, g->load_order()), ElementsAre("metrics", "app"));
  EXPECT_THAT(names(*g, g->init_order()), ElementsAre("metrics", "app"));
  EXPECT_EQ(g->why(*g->find("metrics")), "requested; weak dependency of app (*)");
}

TEST(ResolveGraph, UnsatisfiedRangeNamesBothVersions) {
  auto g =
      resolve(named({"app"}), {node("app", "1.0.0", {dep("math", "^2.0")}), node("math", "1.4.2")});
  EXPECT_THAT(g, HasCodeAndMessage(errc::version_unsatisfied,
                                   HasSubstr("app: needs math ^2.0 but math is 1.4.2 "
                                             "(/m/libmath.so)")));
}

TEST(ResolveGraph, SecondDependentWithAnotherRangeIsCheckedToo) {
  auto g = resolve(named({"a", "b"}),
                   {node("a", "1.0.0", {dep("math", "^1.2")}),
                    node("b", "1.0.0", {dep("math", ">=1.5")}), node("math", "1.4.0")});
  EXPECT_THAT(g, HasCodeAndMessage(errc::version_unsatisfied,
                                   HasSubstr("b: needs math >=1.5 but math is 1.4.0")));
}

struct range_case {
  const char* range;
  const char* version;
  bool satisfied;
};

class ResolveRange : public ::testing::TestWithParam<range_case> {};

TEST_P(ResolveRange, DecidesWhetherTheDependencyResolves) {
  const range_case& c = GetParam();
  auto g = resolve(named({"app"}),
                   {node("app", "1.0.0", {dep("math", c.range)}), node("math", c.version)});
  if (c.satisfied) {
    EXPECT_THAT(g, IsOk()) << c.range << " " << c.version;
  } else {
    EXPECT_THAT(g, HasCode(errc::version_unsatisfied)) << c.range << " " << c.version;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ResolveRange,
    ::testing::Values(range_case{">=1.2 <2", "1.2.0", true}, range_case{">=1.2 <2", "1.9.9", true},
                      range_case{">=1.2 <2", "1.1.9", false},
                      range_case{">=1.2 <2", "2.0.0", false}, range_case{"^1.2", "1.2.0", true},
                      range_case{"^1.2", "1.99.0", true}, range_case{"^1.2", "1.1.0", false},
                      range_case{"^1.2", "2.0.0", false}, range_case{"~1.2.3", "1.2.3", true},
                      range_case{"~1.2.3", "1.2.9", true}, range_case{"~1.2.3", "1.2.2", false},
                      range_case{"~1.2.3", "1.3.0", false}));

TEST(ResolveGraph, RequiredCycleNamesEveryModuleOnIt) {
  auto g = resolve(named({"app"}),
                   {node("app", "1.0.0", {dep("a", "*")}), node("a", "1.0.0", {dep("b", "*")}),
                    node("b", "1.0.0", {dep("c", "*")}), node("c", "1.0.0", {dep("a", "*")})});
  EXPECT_THAT(g, HasCodeAndMessage(errc::dependency_cycle, HasSubstr("a -> b -> c -> a")));
  EXPECT_THAT(g, HasCodeAndMessage(errc::dependency_cycle, ::testing::Not(HasSubstr("app ->"))));
}

TEST(ResolveGraph, ModuleNeedingItselfIsACycle) {
  EXPECT_THAT(resolve(named({"a"}), {node("a", "1.0.0", {dep("a", "*")})}),
              HasCodeAndMessage(errc::dependency_cycle, HasSubstr("a -> a")));
}

TEST(ResolveGraph, CycleThroughAWeakEdgeThatIsPresentIsRefused) {
  EXPECT_THAT(
      resolve(named({"a"}), {node("a", "1.0.0", {dep("b", "*")}), node("b", "1.0.0", {weak("a")})}),
      HasCodeAndMessage(errc::dependency_cycle, HasSubstr("a -> b -> a")));
}

TEST(ResolveGraph, CycleThroughAnUpwardEdgeIsAllowed) {
  // The host plugin pattern: app needs plugin, plugin calls back up into app.
  auto g = resolve(named({"app"}), {node("app", "1.0.0", {dep("plugin", "*")}),
                                    node("plugin", "1.0.0", {upward("app")})});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(names(*g, g->load_order()), ElementsAre("plugin", "app"));
  EXPECT_THAT(names(*g, g->init_order()), ElementsAre("plugin", "app"));
  EXPECT_EQ(g->why(*g->find("app")), "requested; upward dependency of plugin (*)");
}

TEST(ResolveGraph, UpwardOnlyTargetIsLoadedAndInitializedAfter) {
  auto g = resolve(named({"plugin"}), {node("plugin", "1.0.0", {upward("app")}),
                                       node("app", "1.0.0", {dep("plugin", "*")})});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(names(*g, g->load_order()), ElementsAre("plugin", "app"));
  EXPECT_THAT(names(*g, g->init_order()), ElementsAre("plugin", "app"));
}

TEST(ResolveGraph, DuplicateNamesFromTwoFilesNameBothFiles) {
  module_node a = node("math", "1.0.0");
  a.file = "/one/libmath.so";
  module_node b = node("math", "1.1.0");
  b.file = "/two/libmath-new.so";
  auto g = resolve(
      {module_ref::from_path("/one/libmath.so"), module_ref::from_path("/two/libmath-new.so")},
      {a, b});
  EXPECT_THAT(g, HasCodeAndMessage(errc::duplicate_module,
                                   HasSubstr("/one/libmath.so and /two/libmath-new.so")));
}

TEST(ResolveGraph, SameFileRequestedTwiceIsOneModule) {
  auto g = resolve({module_ref::from_path("/m/libmath.so"), module_ref::named("math"),
                    module_ref::from_path("/m/libmath.so")},
                   {node("math")});
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->modules().size(), 1u);
  EXPECT_THAT(g->requested(), ElementsAre(0u));
  EXPECT_EQ(g->why(0), "requested");
}

TEST(ResolveGraph, FileRequestedByPathBindsItsName) {
  module_node newer = node("math", "2.0.0");
  newer.file = "/other/libmath.so";
  auto g = resolve({module_ref::named("app"), module_ref::from_path("/other/libmath.so")},
                   {node("math", "1.0.0"), newer, node("app", "1.0.0", {dep("math", "^2")})});
  ASSERT_THAT(g, IsOk());
  const resolved_module& math = g->modules()[*g->find("math")];
  EXPECT_EQ(math.file, "/other/libmath.so");
  EXPECT_EQ(math.version.to_string(), "2.0.0");
  EXPECT_THAT(names(*g, g->requested()), ElementsAre("app", "math"));
  EXPECT_THAT(names(*g, g->load_order()), ElementsAre("math", "app"));
}

TEST(ResolveGraph, NamesWithPathPartsAreRefused) {
  for (const char* bad : {"../math", "sub/math", "/abs/math", "a..b", "..", "x\\y", ""}) {
    EXPECT_THAT(resolve(named({bad}), {node("math")}), HasCode(errc::bad_module_name)) << bad;
  }
  EXPECT_THAT(resolve(named({"app"}), {node("app", "1.0.0", {dep("../math", "*")})}),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("app: depends on '../math'")));
  // Even a weak dependency: a bad name is a broken manifest, not an absent module.
  EXPECT_THAT(resolve(named({"app"}), {node("app", "1.0.0", {weak("a/b")})}),
              HasCode(errc::bad_module_name));
}

TEST(ResolveGraph, ProviderGivingAnotherNameIsRefused) {
  node_provider liar = [](const module_ref&) -> result<module_node> { return node("other"); };
  std::vector<module_ref> want = named({"math"});
  EXPECT_THAT(resolve_graph(want, liar),
              HasCodeAndMessage(errc::bad_module_name, HasSubstr("is named 'other'")));
}

TEST(ResolveGraph, ProviderErrorsOtherThanNotFoundPassThroughEvenForWeak) {
  node_provider broken = [](const module_ref& ref) -> result<module_node> {
    if (ref.name() == "app") return node("app", "1.0.0", {weak("math")});
    return fail(errc::manifest_bad_json, "/m/libmath.so", "not json at byte 3", "rebuild it");
  };
  std::vector<module_ref> want = named({"app"});
  EXPECT_THAT(resolve_graph(want, broken),
              HasCodeAndMessage(errc::manifest_bad_json,
                                HasSubstr("not json at byte 3 (needed by app); rebuild it")));
}

TEST(ResolveGraph, ProviderThatThrowsGivesAnError) {
  node_provider thrower = [](const module_ref&) -> result<module_node> {
    throw std::runtime_error("disk on fire");
  };
  std::vector<module_ref> want = named({"app"});
  EXPECT_THAT(resolve_graph(want, thrower),
              HasCodeAndMessage(errc::io_error, HasSubstr("disk on fire")));
}

TEST(ResolveGraph, ProviderIsAskedOncePerName) {
  std::vector<std::string> asked;
  auto inner = memory_provider({node("a", "1.0.0", {weak("gone"), dep("c", "*")}),
                                node("b", "1.0.0", {weak("gone"), dep("c", "*")}), node("c")});
  node_provider counting = [&](const module_ref& ref) {
    asked.push_back(ref.name());
    return inner(ref);
  };
  std::vector<module_ref> want = named({"a", "b"});
  ASSERT_THAT(resolve_graph(want, counting), IsOk());
  EXPECT_THAT(asked, ElementsAre("a", "b", "gone", "c"));
}

TEST(ResolveGraph, UnrelatedModulesLoadInRequestOrder) {
  std::vector<module_node> nodes = {node("a"), node("b"), node("c", "1.0.0", {dep("d", "*")}),
                                    node("d"), node("e")};
  auto g = resolve(named({"e", "c", "a", "b"}), nodes);
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(names(*g, g->load_order()), ElementsAre("e", "d", "c", "a", "b"));
  auto again = resolve(named({"b", "a", "c", "e"}), nodes);
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(names(*again, again->load_order()), ElementsAre("b", "a", "d", "c", "e"));
  // Init among siblings follows glibc: the later sibling first.
  EXPECT_THAT(names(*again, again->init_order()), ElementsAre("d", "e", "c", "a", "b"));
}

TEST(ResolveGraph, EmptyRequestIsAnEmptyGraph) {
  auto g = resolve({}, {node("a")});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT(g->modules(), IsEmpty());
  EXPECT_THAT(g->load_order(), IsEmpty());
}

}  // namespace
}  // namespace livemod
