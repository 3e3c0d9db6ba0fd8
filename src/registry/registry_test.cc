// The registry against real modules (tests/modules/registry): graphs loaded by name, the
// lifecycle in init order, load-once under eight threads, remembered failures, unloading and
// its refusals, namespaces shared and isolated, observers and the timing report, and every
// bad input of issue 3, each leaving the module loaded before it working.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "livemod/registry.h"
#include "livemod/resolve.h"
#include "testing/temp_dir.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;
using testing_support::temp_dir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool k_sanitized = true;
#else
constexpr bool k_sanitized = false;
#endif

module_search_path fixture_search(const fs::path& dir = LIVEMOD_FIXTURE_REGISTRY_DIR) {
  return module_search_path({dir}, "", {});
}

load_options in_namespace(namespace_id id) {
  load_options o;
  o.where = id;
  return o;
}

load_options reporting(load_report* report) {
  load_options o;
  o.report = report;
  return o;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"LIVEMOD_REGISTRY_UNLOADS", "LIVEMOD_REGISTRY_FAILS_CTOR",
                             "LIVEMOD_REGISTRY_FAILS_LOAD"})
      ::unsetenv(name);
  }

  registry_options options(const fs::path& dir = LIVEMOD_FIXTURE_REGISTRY_DIR) {
    registry_options o;
    o.search = fixture_search(dir);
    o.log = [this](std::string_view module, int level, std::string_view text) {
      std::lock_guard lock(mutex_);
      lines_.push_back(std::string(module) + "|" + std::to_string(level) + "|" + std::string(text));
      if (text.starts_with("init ")) inits_.push_back(std::string(text.substr(5)));
    };
    return o;
  }

  std::vector<std::string> inits() {
    std::lock_guard lock(mutex_);
    return inits_;
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

  static std::vector<std::string> names(const registry& r) {
    std::vector<std::string> out;
    for (const auto& m : r.modules()) out.push_back(m.name);
    return out;
  }

  // The orders resolve_graph gives for `root`, as names.
  static std::vector<std::string> init_order_of(std::string root) {
    std::vector<module_ref> want{module_ref::named(std::move(root))};
    auto graph = resolve_graph(want, manifest_provider(fixture_search()));
    std::vector<std::string> out;
    if (!graph) {
      ADD_FAILURE() << graph.error().describe();
      return out;
    }
    for (std::size_t i : graph->init_order()) out.push_back(graph->modules()[i].name);
    return out;
  }
  static std::vector<std::string> load_order_of(std::string root) {
    std::vector<module_ref> want{module_ref::named(std::move(root))};
    auto graph = resolve_graph(want, manifest_provider(fixture_search()));
    std::vector<std::string> out;
    if (!graph) return out;
    for (std::size_t i : graph->load_order()) out.push_back(graph->modules()[i].name);
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
  std::vector<std::string> inits_;
};

// --- graphs and lifecycle ----------------------------------------------------------------------

TEST_F(RegistryTest, LoadsDependenciesFirstAndRunsOnLoadInInitOrder) {
  registry host(options());
  auto app = host.load(module_ref::named("reg_app"));
  ASSERT_THAT(app, IsOk());
  EXPECT_EQ(app->name(), "reg_app");
  EXPECT_EQ(app->abi(), 1u);
  EXPECT_EQ(names(host), load_order_of("reg_app"));
  EXPECT_THAT(names(host), ElementsAre("reg_base", "reg_mid", "reg_app"));
  EXPECT_EQ(inits(), init_order_of("reg_app"));

  auto name = app->symbol<const char*()>("reg_name");
  ASSERT_THAT(name, IsOk());
  EXPECT_STREQ((*name)(), "reg_app");

  const auto info = host.modules();
  EXPECT_THAT(info[1].needs, ElementsAre("reg_base"));
  EXPECT_THAT(info[1].needed_by, ElementsAre("reg_app"));
  EXPECT_EQ(info[2].handles, 1u);
  EXPECT_EQ(info[0].handles, 0u);  // held by reg_mid, not by a handle
}

TEST_F(RegistryTest, SiblingsInitializeInTheSystemLinkersOrder) {
  registry host(options());
  ASSERT_THAT(host.load(module_ref::named("reg_siblings")), IsOk());
  EXPECT_EQ(inits(), init_order_of("reg_siblings"));
  // glibc's rule: of reg_siblings' dependencies (reg_base, reg_lone) the later one first.
  EXPECT_THAT(inits(), ElementsAre("reg_lone", "reg_base", "reg_siblings"));
}

TEST_F(RegistryTest, WeakDependencyThatIsAbsentIsToldToTheModule) {
  registry host(options());
  auto app = host.load(module_ref::named("reg_app"));
  ASSERT_THAT(app, IsOk());
  const auto all = lines();
  EXPECT_THAT(all, ::testing::Contains("reg_app|1|present reg_mid 1"));
  EXPECT_THAT(all, ::testing::Contains("reg_app|1|present reg_absent 0"));
  EXPECT_THAT(all, ::testing::Contains("reg_app|1|present reg_unknown -1"));
}

TEST_F(RegistryTest, SameFileGivesTheSameModuleRefcounted) {
  temp_dir dir;
  const fs::path link = dir.path() / "libalias.so";
  fs::create_symlink(LIVEMOD_FIXTURE_REGISTRY_BASE, link);

  registry host(options());
  auto by_name = host.load(module_ref::named("reg_base"));
  auto by_path = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_BASE));
  auto by_link = host.load(module_ref::from_path(link));
  auto again = host.load(module_ref::named("reg_base"));
  ASSERT_THAT(by_name, IsOk());
  ASSERT_THAT(by_path, IsOk());
  ASSERT_THAT(by_link, IsOk());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(*by_name == *by_path);
  EXPECT_TRUE(*by_name == *by_link);
  EXPECT_TRUE(*by_name == *again);
  EXPECT_EQ(by_name->references(), 4u);
  EXPECT_EQ(host.modules().size(), 1u);
  EXPECT_THAT(inits(), ElementsAre("reg_base"));  // on_load ran once

  by_path->reset();
  by_link->reset();
  again->reset();
  EXPECT_EQ(by_name->references(), 1u);
  EXPECT_EQ(host.modules().size(), 1u);
  EXPECT_EQ(env("LIVEMOD_REGISTRY_UNLOADS"), "");
  by_name->reset();
  EXPECT_TRUE(host.modules().empty());
  EXPECT_EQ(env("LIVEMOD_REGISTRY_UNLOADS"), "reg_base;");
}

TEST_F(RegistryTest, EightThreadsLoadingOneModuleMapItOnceAndInitializeItOnce) {
  registry host(options());
  constexpr int k_threads = 8;
  std::barrier start(k_threads);
  std::vector<module_handle> handles(k_threads);
  std::vector<std::string> errors(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      auto h = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_COUNTED));
      if (h) {
        handles[static_cast<std::size_t>(t)] = std::move(*h);
      } else {
        errors[static_cast<std::size_t>(t)] = h.error().describe();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < k_threads; ++t) {
    ASSERT_TRUE(handles[static_cast<std::size_t>(t)]) << errors[static_cast<std::size_t>(t)];
    EXPECT_TRUE(handles[static_cast<std::size_t>(t)] == handles[0]);
  }
  EXPECT_EQ(handles[0].references(), static_cast<std::size_t>(k_threads));
  auto constructed = handles[0].symbol<int()>("reg_counted_constructed");
  auto loaded = handles[0].symbol<int()>("reg_counted_loaded");
  ASSERT_THAT(constructed, IsOk());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ((*constructed)(), 1);
  EXPECT_EQ((*loaded)(), 1);
  EXPECT_EQ(host.modules().size(), 1u);
}

TEST_F(RegistryTest, UnloadingAModuleOthersNeedIsRefusedAndNamesThem) {
  registry host(options());
  auto app = host.load(module_ref::named("reg_app"));
  auto base = host.load(module_ref::named("reg_base"));
  ASSERT_THAT(app, IsOk());
  ASSERT_THAT(base, IsOk());

  EXPECT_THAT(host.unload(*base), HasCodeAndMessage(errc::module_in_use, HasSubstr("reg_mid")));
  EXPECT_TRUE(*base);  // refused: the handle still holds its reference
  EXPECT_EQ(base->references(), 1u);
  EXPECT_EQ(host.modules().size(), 3u);

  // Releasing reg_app takes reg_mid with it, dependents first; reg_base stays for its handle.
  auto gone = host.unload(*app);
  ASSERT_THAT(gone, IsOk());
  EXPECT_THAT(*gone, ElementsAre("reg_app", "reg_mid"));
  EXPECT_FALSE(*app);
  EXPECT_EQ(env("LIVEMOD_REGISTRY_UNLOADS"), "reg_app;reg_mid;");
  EXPECT_THAT(names(host), ElementsAre("reg_base"));

  gone = host.unload(*base);
  ASSERT_THAT(gone, IsOk());
  EXPECT_THAT(*gone, ElementsAre("reg_base"));
  EXPECT_TRUE(host.modules().empty());
}

TEST_F(RegistryTest, CascadeUnloadsDependentsFirstAndStalesTheirHandles) {
  registry host(options());
  auto app = host.load(module_ref::named("reg_app"));
  auto base = host.load(module_ref::named("reg_base"));
  ASSERT_THAT(app, IsOk());
  ASSERT_THAT(base, IsOk());

  auto gone = host.unload(*base, unload_mode::cascade);
  ASSERT_THAT(gone, IsOk());
  EXPECT_THAT(*gone, ElementsAre("reg_app", "reg_mid", "reg_base"));
  EXPECT_EQ(env("LIVEMOD_REGISTRY_UNLOADS"), "reg_app;reg_mid;reg_base;");
  EXPECT_TRUE(host.modules().empty());
  EXPECT_TRUE(*app);
  EXPECT_FALSE(app->loaded());
  EXPECT_THAT(app->raw_symbol("reg_name"), HasCode(errc::module_unloaded));
  EXPECT_THAT(host.unload(*app), HasCode(errc::module_unloaded));
}

TEST_F(RegistryTest, CycleThroughAnUpwardEdgeLoadsAndUnloadsTogether) {
  registry host(options());
  auto up = host.load(module_ref::named("reg_up_host"));
  ASSERT_THAT(up, IsOk());
  EXPECT_THAT(names(host), ElementsAre("reg_up_host", "reg_up_plugin"));
  // The upward target starts the next generation: it initializes after the module naming it.
  EXPECT_THAT(inits(), ElementsAre("reg_up_host", "reg_up_plugin"));
  up->reset();  // each holds the other, and no handle holds either: both go
  EXPECT_TRUE(host.modules().empty());
  EXPECT_EQ(env("LIVEMOD_REGISTRY_UNLOADS"), "reg_up_plugin;reg_up_host;");
}

TEST_F(RegistryTest, HandlesOutliveTheRegistry) {
  module_handle kept;
  {
    registry host(options());
    auto base = host.load(module_ref::named("reg_base"));
    ASSERT_THAT(base, IsOk());
    kept = std::move(*base);
  }
  EXPECT_EQ(env("LIVEMOD_REGISTRY_UNLOADS"), "reg_base;");
  EXPECT_TRUE(kept);
  EXPECT_FALSE(kept.loaded());
  EXPECT_THAT(kept.raw_symbol("reg_name"), HasCode(errc::module_unloaded));
  kept.reset();
  EXPECT_FALSE(kept);
}

TEST_F(RegistryTest, UnloadOfAnEmptyHandleIsAnError) {
  registry host(options());
  module_handle empty;
  EXPECT_THAT(host.unload(empty), HasCode(errc::module_unloaded));
}

TEST_F(RegistryTest, CallsBackIntoTheRegistryFromAnEntryPointAreRefusedNotDeadlocked) {
  registry* self = nullptr;
  std::optional<result<module_handle>> nested;
  module_handle dropped_inside;
  registry_options o = options();
  o.log = [&](std::string_view, int, std::string_view text) {
    if (self == nullptr || text != "init reg_base") return;
    nested.emplace(self->load(module_ref::named("reg_lone")));
    dropped_inside.reset();  // released while the registry's lock is held further up
  };
  registry host(std::move(o));
  self = &host;
  auto counted = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_COUNTED));
  ASSERT_THAT(counted, IsOk());
  dropped_inside = std::move(*counted);

  ASSERT_THAT(host.load(module_ref::named("reg_mid")), IsOk());
  ASSERT_TRUE(nested.has_value());
  EXPECT_THAT(*nested, HasCodeAndMessage(errc::load_failed, HasSubstr("entry point")));
  // The handle dropped inside on_load was collected once the load was over.
  EXPECT_THAT(names(host), ::testing::Not(::testing::Contains("reg_counted")));
}

// --- observers and timings ---------------------------------------------------------------------

TEST_F(RegistryTest, ObserversSeeEveryStateChangeInOrder) {
  registry host(options());
  std::mutex m;
  std::vector<std::string> seen;
  const auto id = host.add_observer([&](const module_event& e) {
    std::lock_guard lock(m);
    seen.push_back(e.module + ":" + std::string(to_string(e.state)));
    EXPECT_GE(e.took.count(), 0);
    EXPECT_EQ(e.namespace_name, "default");
    EXPECT_EQ(e.failure.has_value(), e.state == module_state::failed);
  });
  auto mid = host.load(module_ref::named("reg_mid"));
  ASSERT_THAT(mid, IsOk());
  mid->reset();
  EXPECT_THAT(seen, ElementsAre("reg_mid:resolved", "reg_base:resolved", "reg_base:checked",
                                "reg_mid:checked", "reg_base:mapped", "reg_mid:mapped",
                                "reg_base:initialized", "reg_mid:initialized", "reg_mid:unloaded",
                                "reg_base:unloaded"));

  seen.clear();
  EXPECT_THAT(host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_FAILS)),
              HasCode(errc::init_failed));
  EXPECT_THAT(seen, ElementsAre("reg_fails:resolved", "reg_fails:checked", "reg_fails:mapped",
                                "reg_fails:failed", "reg_fails:unloaded"));

  host.remove_observer(id);
  seen.clear();
  ASSERT_THAT(host.load(module_ref::named("reg_base")), IsOk());
  EXPECT_TRUE(seen.empty());
}

TEST_F(RegistryTest, TimingReportCoversEveryLoadedModule) {
  registry host(options());
  load_report report;
  auto mid = host.load(module_ref::named("reg_mid"), reporting(&report));
  ASSERT_THAT(mid, IsOk());
  ASSERT_EQ(report.loaded.size(), 2u);
  EXPECT_EQ(report.loaded[0].module, "reg_base");
  EXPECT_EQ(report.loaded[1].module, "reg_mid");
  EXPECT_EQ(report.loaded[1].version, "1.2.0");
  EXPECT_TRUE(report.reused.empty());

  const auto rows = host.timings();
  ASSERT_EQ(rows.size(), 2u);
  const std::string table = format_timings(rows, report.resolve);
  EXPECT_THAT(table, HasSubstr("module"));
  EXPECT_THAT(table, HasSubstr("reg_mid"));
  EXPECT_THAT(table, HasSubstr("1.2.0"));
  EXPECT_THAT(table, HasSubstr("total (2)"));

  // Loaded again: nothing mapped, both reused.
  load_report second;
  ASSERT_THAT(host.load(module_ref::named("reg_mid"), reporting(&second)), IsOk());
  EXPECT_TRUE(second.loaded.empty());
  EXPECT_THAT(second.reused, ElementsAre("reg_base", "reg_mid"));
}

TEST_F(RegistryTest, PassedPreflightIsCachedForAnUnchangedFile) {
  registry host(options());
  auto base = host.load(module_ref::named("reg_base"));
  ASSERT_THAT(base, IsOk());
  base->reset();
  load_report report;
  ASSERT_THAT(host.load(module_ref::named("reg_base"), reporting(&report)), IsOk());
  ASSERT_EQ(report.loaded.size(), 1u);
  EXPECT_TRUE(report.loaded[0].preflight_cached);
}

TEST_F(RegistryTest, AReplacedFileIsReadAgainNotTakenFromTheCache) {
  temp_dir dir;
  const fs::path file = dir.path() / "libreg_base.so";
  fs::copy_file(LIVEMOD_FIXTURE_REGISTRY_BASE, file);
  registry host(options(dir.path()));
  auto first = host.load(module_ref::named("reg_base"));
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->version().to_string(), "1.0.0");
  first->reset();

  // Another build at the same path (a new inode): its manifest says 9.0.0.
  fs::remove(file);
  fs::copy_file(LIVEMOD_FIXTURE_REGISTRY_DUP, file);
  load_report report;
  auto second = host.load(module_ref::named("reg_base"), reporting(&report));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->version().to_string(), "9.0.0");
  ASSERT_EQ(report.loaded.size(), 1u);
  EXPECT_FALSE(report.loaded[0].preflight_cached);
  auto name = second->symbol<const char*()>("reg_name");
  ASSERT_THAT(name, IsOk());
  EXPECT_STREQ((*name)(), "reg_dup");
}

// --- bad input: each leaves the module loaded before it working -------------------------------

// --- parallel preflight ------------------------------------------------------------------------

// What one load gives back and what its observer sees, to compare a load whose modules were
// checked one after the other with one checked on several threads.
struct load_outcome {
  std::string failure;               // describe() of the error; "" when the load succeeded
  std::vector<std::string> events;   // "state module", in delivery order
  std::vector<std::string> loaded;   // the registry's modules after the load
  std::size_t checked = 0;           // modules whose preflight ran (not cached)
};

load_outcome load_with_threads(registry_options o, unsigned threads,
                               const std::vector<module_ref>& refs) {
  o.preflight_threads = threads;
  registry host(std::move(o));
  load_outcome out;
  host.add_observer([&out](const module_event& e) {
    out.events.push_back(std::string(to_string(e.state)) + " " + e.module);
  });
  load_report report;
  load_options how;
  how.report = &report;
  auto handles = host.load(refs, how);
  if (!handles) out.failure = handles.error().describe();
  for (const auto& m : host.modules()) out.loaded.push_back(m.name);
  for (const auto& t : report.loaded) out.checked += t.preflight_cached ? 0 : 1;
  return out;
}

TEST_F(RegistryTest, ModulesCheckedOnSeveralThreadsLoadAsWhenCheckedInTurn) {
  const std::vector<module_ref> want{module_ref::named("reg_app"), module_ref::named("reg_siblings"),
                                     module_ref::named("reg_up_host")};
  const load_outcome one = load_with_threads(options(), 1, want);
  const load_outcome four = load_with_threads(options(), 4, want);
  ASSERT_EQ(one.failure, "");
  EXPECT_EQ(four.failure, "");
  EXPECT_EQ(four.events, one.events);
  EXPECT_EQ(four.loaded, one.loaded);
  EXPECT_GE(one.loaded.size(), 6u);
  EXPECT_EQ(four.checked, one.loaded.size());
}

TEST_F(RegistryTest, ModulesCheckedOnSeveralThreadsFailWithTheFirstFailureInLoadOrder) {
  // A host whose manifest says it was built with _GLIBCXX_DEBUG: every module fails its
  // preflight (fingerprint_mismatch), and the error must be the first module's in load order
  // however the checks were spread over threads.
  registry_options o = options();
  o.preflight.host = LIVEMOD_FIXTURE_COMPAT_HOST_MANIFEST;
  const std::vector<module_ref> want{module_ref::named("reg_lone"), module_ref::named("reg_app")};
  for (unsigned threads : {1u, 2u, 4u}) {
    const load_outcome got = load_with_threads(o, threads, want);
    EXPECT_THAT(got.failure, HasSubstr("libreg_lone.so")) << threads << " threads";
    EXPECT_THAT(got.failure, HasSubstr("glibcxx_debug")) << threads << " threads";
    EXPECT_TRUE(got.loaded.empty());
    EXPECT_THAT(got.events, ::testing::Contains("failed reg_lone"));
    EXPECT_THAT(got.events, ::testing::Not(::testing::Contains("failed reg_base")));
  }
  // And one failure among modules that pass: the same error, whether it is checked alone
  // or beside the others.
  const std::vector<module_ref> mixed{module_ref::named("reg_app"),
                                      module_ref::from_path(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI),
                                      module_ref::named("reg_lone")};
  const load_outcome one = load_with_threads(options(), 1, mixed);
  const load_outcome four = load_with_threads(options(), 4, mixed);
  EXPECT_THAT(one.failure, HasSubstr("compat_future_abi"));
  EXPECT_EQ(four.failure, one.failure);
  EXPECT_EQ(four.events, one.events);
  EXPECT_TRUE(four.loaded.empty());
}

class RegistryBadInputTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    host_.emplace(options());
    auto h = host_->load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_COUNTED));
    ASSERT_THAT(h, IsOk());
    before_ = std::move(*h);
  }
  void TearDown() override {
    // What was loaded before is loaded still, and answers.
    ASSERT_TRUE(before_.loaded());
    auto loaded = before_.symbol<int()>("reg_counted_loaded");
    ASSERT_THAT(loaded, IsOk());
    EXPECT_EQ((*loaded)(), 1);
    EXPECT_THAT(names(*host_), ElementsAre("reg_counted"));
    before_.reset();
    host_.reset();
  }
  registry& host() { return *host_; }

 private:
  std::optional<registry> host_;
  module_handle before_;
};

TEST_F(RegistryBadInputTest, MissingRequiredDependency) {
  EXPECT_THAT(host().load(module_ref::named("reg_needs_missing")),
              HasCodeAndMessage(errc::module_not_found, HasSubstr("reg_nowhere")));
}

TEST_F(RegistryBadInputTest, MissingWeakDependencyLoadsAndTheModuleIsTold) {
  auto app = host().load(module_ref::named("reg_app"));
  ASSERT_THAT(app, IsOk());
  EXPECT_THAT(lines(), ::testing::Contains("reg_app|1|present reg_absent 0"));
  app->reset();
}

TEST_F(RegistryBadInputTest, VersionRangeUnsatisfied) {
  EXPECT_THAT(host().load(module_ref::named("reg_needs_base2")),
              HasCodeAndMessage(errc::version_unsatisfied, HasSubstr("1.0.0")));
  EXPECT_TRUE(inits().empty());  // no on_load of the graph ran
}

TEST_F(RegistryBadInputTest, RequiredCycle) {
  auto r = host().load(module_ref::named("reg_cycle_a"));
  EXPECT_THAT(r, HasCodeAndMessage(errc::dependency_cycle, HasSubstr("reg_cycle_b")));
  EXPECT_THAT(r, HasCodeAndMessage(errc::dependency_cycle, HasSubstr("reg_cycle_a")));
}

TEST_F(RegistryBadInputTest, CycleThroughAnUpwardEdgeIsAllowed) {
  auto up = host().load(module_ref::named("reg_up_host"));
  ASSERT_THAT(up, IsOk());
  up->reset();
}

TEST_F(RegistryBadInputTest, DuplicateModuleNamesFromTwoFilesInOneGraph) {
  std::vector<module_ref> both{module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_BASE),
                               module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_DUP)};
  EXPECT_THAT(host().load(both), HasCode(errc::duplicate_module));
}

TEST_F(RegistryBadInputTest, DuplicateModuleNameAgainstALoadedModule) {
  auto base = host().load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_BASE));
  ASSERT_THAT(base, IsOk());
  EXPECT_THAT(host().load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_DUP)),
              HasCodeAndMessage(errc::duplicate_module, HasSubstr(LIVEMOD_FIXTURE_REGISTRY_BASE)));
  base->reset();
}

TEST_F(RegistryBadInputTest, NamesWithPathSeparatorsOrDotDot) {
  for (const char* name : {"../reg_base", "a/b", "/etc/passwd", "..", "reg..base"}) {
    EXPECT_THAT(host().load(module_ref::named(name)), HasCode(errc::bad_module_name)) << name;
  }
}

TEST_F(RegistryBadInputTest, OnLoadReturnsAnUnsupportedAbi) {
  EXPECT_THAT(host().load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_BAD_ABI)),
              HasCodeAndMessage(errc::abi_unsupported, HasSubstr("99")));
}

TEST_F(RegistryBadInputTest, OnLoadReportsFailureAndIsRememberedUntilTheFileChanges) {
  temp_dir dir;
  const fs::path copy = dir.path() / "libreg_fails.so";
  fs::copy_file(LIVEMOD_FIXTURE_REGISTRY_FAILS, copy);

  EXPECT_THAT(host().load(module_ref::from_path(copy)),
              HasCodeAndMessage(errc::init_failed, HasSubstr("database at /var/db is locked")));
  EXPECT_EQ(env("LIVEMOD_REGISTRY_FAILS_CTOR"), "1");
  EXPECT_EQ(env("LIVEMOD_REGISTRY_FAILS_LOAD"), "1");

  // The same unchanged file: the same failure, and none of its code runs.
  EXPECT_THAT(host().load(module_ref::from_path(copy)),
              HasCodeAndMessage(errc::init_failed, HasSubstr("database at /var/db is locked")));
  EXPECT_EQ(env("LIVEMOD_REGISTRY_FAILS_CTOR"), "1");
  EXPECT_EQ(env("LIVEMOD_REGISTRY_FAILS_LOAD"), "1");

  // A changed file (new mtime) gets a fresh try.
  fs::last_write_time(copy, fs::last_write_time(copy) + std::chrono::seconds(2));
  EXPECT_THAT(host().load(module_ref::from_path(copy)), HasCode(errc::init_failed));
  EXPECT_EQ(env("LIVEMOD_REGISTRY_FAILS_CTOR"), "2");
  EXPECT_EQ(env("LIVEMOD_REGISTRY_FAILS_LOAD"), "2");
}

TEST_F(RegistryBadInputTest, OnLoadThrowsAndTheExceptionStaysInTheModule) {
  EXPECT_THAT(host().load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_THROWS)),
              HasCodeAndMessage(errc::init_failed,
                                HasSubstr("config file /etc/reg_throws.conf is missing")));
}

TEST_F(RegistryBadInputTest, ModuleRemovedBetweenResolveAndLoad) {
  temp_dir dir;
  fs::copy_file(LIVEMOD_FIXTURE_REGISTRY_BASE, dir.path() / "libreg_base.so");
  fs::copy_file(LIVEMOD_FIXTURE_REGISTRY_MID, dir.path() / "libreg_mid.so");
  std::vector<module_ref> want{module_ref::named("reg_mid")};
  auto graph = resolve_graph(want, manifest_provider(fixture_search(dir.path())));
  ASSERT_THAT(graph, IsOk());
  fs::remove(dir.path() / "libreg_base.so");

  EXPECT_THAT(host().load_graph(*graph),
              HasCodeAndMessage(errc::file_not_found, HasSubstr("libreg_base.so")));
  EXPECT_TRUE(inits().empty());  // nothing of the graph ran
}

TEST_F(RegistryBadInputTest, PreflightRefusesBeforeAnyCodeRuns) {
  EXPECT_THAT(host().load(module_ref::from_path(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI)),
              HasCode(errc::abi_unsupported));
}

// --- namespaces --------------------------------------------------------------------------------

TEST_F(RegistryTest, ANamespaceCannotOpenAModuleAnotherOneOwns) {
  registry host(options());
  auto plugins = host.create_namespace("plugins");
  ASSERT_THAT(plugins, IsOk());
  auto base = host.load(module_ref::named("reg_base"), in_namespace(*plugins));
  ASSERT_THAT(base, IsOk());
  EXPECT_EQ(base->where(), *plugins);

  EXPECT_THAT(host.load(module_ref::named("reg_base")),
              HasCodeAndMessage(errc::namespace_conflict, HasSubstr("'plugins'")));
  // Through a dependency too.
  EXPECT_THAT(host.load(module_ref::named("reg_mid")), HasCode(errc::namespace_conflict));
  EXPECT_THAT(names(host), ElementsAre("reg_base"));
  auto again = host.load(module_ref::named("reg_base"), in_namespace(*plugins));
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(*again == *base);
}

TEST_F(RegistryTest, NamespaceNamesAreCheckedAndUnique) {
  registry host(options());
  EXPECT_THAT(host.create_namespace("a/b"), HasCode(errc::bad_module_name));
  EXPECT_THAT(host.create_namespace("default"), HasCode(errc::bad_module_name));
  ASSERT_THAT(host.create_namespace("tools"), IsOk());
  EXPECT_THAT(host.create_namespace("tools"), HasCode(errc::namespace_conflict));
  EXPECT_THAT(host.load(module_ref::named("reg_base"), in_namespace(static_cast<namespace_id>(42))),
              HasCode(errc::load_failed));
}

TEST_F(RegistryTest, TwoVersionsRunAtOnceInTwoIsolatedNamespaces) {
  registry host(options());
  auto one = host.create_namespace("one", {.isolated = true});
  auto two = host.create_namespace("two", {.isolated = true});
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT(two, IsOk());
  auto v1 = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_VERSIONED_V1), in_namespace(*one));
  auto v2 = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_VERSIONED_V2), in_namespace(*two));
  if (k_sanitized) {
    // A sanitizer runtime cannot be loaded twice: refused, never attempted.
    EXPECT_THAT(v1, HasCode(errc::isolation_unavailable));
    EXPECT_THAT(v2, HasCode(errc::isolation_unavailable));
    return;
  }
  ASSERT_THAT(v1, IsOk());
  ASSERT_THAT(v2, IsOk());
  EXPECT_EQ(v1->version().to_string(), "1.0.0");
  EXPECT_EQ(v2->version().to_string(), "2.0.0");
  auto value1 = v1->symbol<int()>("reg_versioned_value");
  auto value2 = v2->symbol<int()>("reg_versioned_value");
  ASSERT_THAT(value1, IsOk());
  ASSERT_THAT(value2, IsOk());

  std::atomic<int> wrong{0};
  std::barrier start(2);
  auto call = [&](int (*value)(), int expected) {
    start.arrive_and_wait();
    for (int i = 0; i < 10000; ++i)
      if (value() != expected) ++wrong;
  };
  std::thread a(call, *value1, 1);
  std::thread b(call, *value2, 2);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(RegistryTest, IsolatedCopiesOfOneFileHaveTheirOwnStatics) {
  registry host(options());
  auto one = host.create_namespace("one", {.isolated = true});
  auto two = host.create_namespace("two", {.isolated = true});
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT(two, IsOk());
  auto shared = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_VERSIONED_V1));
  ASSERT_THAT(shared, IsOk());  // the default namespace's own copy, in the process's link map
  auto a = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_VERSIONED_V1), in_namespace(*one));
  auto b = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_VERSIONED_V1), in_namespace(*two));
  if (k_sanitized) {
    EXPECT_THAT(a, HasCode(errc::isolation_unavailable));
    return;
  }
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_FALSE(*a == *b);
  auto bump_a = a->symbol<int()>("reg_versioned_bump");
  auto bump_b = b->symbol<int()>("reg_versioned_bump");
  auto bump_shared = shared->symbol<int()>("reg_versioned_bump");
  ASSERT_THAT(bump_a, IsOk());
  ASSERT_THAT(bump_b, IsOk());
  ASSERT_THAT(bump_shared, IsOk());
  EXPECT_NE(*bump_a, *bump_b);
  EXPECT_EQ((*bump_a)(), 1);
  EXPECT_EQ((*bump_a)(), 2);
  EXPECT_EQ((*bump_b)(), 1);
  EXPECT_EQ((*bump_shared)(), 1);
  EXPECT_EQ(host.modules().size(), 3u);
}

// glibc has 16 namespaces, the base included. Run in a child process: what a test takes from
// the dynamic linker (static TLS above all) is not all given back.
TEST_F(RegistryTest, IsolatedNamespacesRunOutWithASpecificError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        registry host(options());
        std::vector<module_handle> kept;
        errc last = errc::load_failed;
        for (int i = 0; i < 20; ++i) {
          auto ns = host.create_namespace("iso" + std::to_string(i), {.isolated = true});
          if (!ns) std::exit(10);
          auto h = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_VERSIONED_V1),
                             in_namespace(*ns));
          if (!h) {
            last = h.error().code();
            break;
          }
          kept.push_back(std::move(*h));
        }
        if (k_sanitized) std::exit(last == errc::isolation_unavailable && kept.empty() ? 0 : 11);
        if (last != errc::namespace_limit) std::exit(12);
        if (kept.empty() || kept.size() > 15) std::exit(13);
        // Those loaded before still answer.
        for (const auto& h : kept) {
          auto value = h.symbol<int()>("reg_versioned_value");
          if (!value || (*value)() != 1) std::exit(14);
        }
        // Giving namespaces back makes room again.
        kept.pop_back();
        auto ns = host.create_namespace("again", {.isolated = true});
        if (!ns) std::exit(15);
        auto h = host.load(module_ref::from_path(LIVEMOD_FIXTURE_REGISTRY_VERSIONED_V1),
                           in_namespace(*ns));
        std::exit(h ? 0 : 16);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace livemod
