// Live objects across real swaps of the fixture module "objs" (tests/modules/objects), in
// thunk mode and in portable mode: every test runs in both.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "livemod/live.h"
#include "livemod/object.h"
#include "modules/objects/objects_api.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using testing_support::HasCode;
using testing_support::IsOk;

// An interface no fixture class implements.
struct IOther : unknown {
  virtual int other() = 0;
};
LIVEMOD_INTERFACE(IOther, unknown, "0f9e8d7c-6b5a-4938-a716-5f4e3d2c1b0a",
                  LIVEMOD_METHOD(other, int()));

using test_ref = object_ref<objs::ITest>;

class objects : public ::testing::TestWithParam<conversion_mode> {
 protected:
  void SetUp() override {
    if (GetParam() == conversion_mode::thunk && !thunks_supported())
      GTEST_SKIP() << "no thunk emitter for this machine";
    object_options o;
    o.mode = GetParam();
    o.on_event = [this](const object_event& e) {
      std::lock_guard lock(mu_);
      object_events_.push_back(e);
    };
    auto rt = object_runtime::create(o);
    ASSERT_THAT(rt, IsOk());
    rt_ = std::move(*rt);
    live_options lo;
    lo.interface_id = LIVEMOD_CLASSES_API_ID;
    lo.participant = rt_->participant();
    lo.probation_calls = 0;
    lo.on_event = [this](const live_event& e) {
      std::lock_guard lock(mu_);
      live_events_.push_back(e);
    };
    auto m = live_module::create(lo);
    ASSERT_THAT(m, IsOk());
    mod_ = std::move(*m);
  }
  void TearDown() override {
    mod_.reset();
    rt_.reset();
  }

  void swap(const char* path) { ASSERT_THAT(mod_->swap_to(path), IsOk()) << path; }
  test_ref make(std::int64_t a = 2008) {
    auto r = rt_->create<objs::ITest>(objs::test_class);
    EXPECT_THAT(r, IsOk());
    if (!r) return {};
    if (a != 2008) (*r)->set_a(a);
    return std::move(*r);
  }
  // `unloaded` events of the live_module for version `v` ("1.0.0").
  std::size_t unloaded(const std::string& v) {
    mod_->wait_idle();
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const live_event& e : live_events_)
      if (e.kind == live_event_kind::unloaded && e.from_version == v) ++n;
    return n;
  }
  std::size_t object_events(object_event_kind k) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const object_event& e : object_events_) n += e.kind == k;
    return n;
  }
  object_version_info version_info(const std::string& v) {
    for (const object_version_info& i : rt_->versions())
      if (i.version == v) return i;
    ADD_FAILURE() << "no version " << v;
    return {};
  }

  std::unique_ptr<object_runtime> rt_;
  std::unique_ptr<live_module> mod_;
  std::mutex mu_;
  std::vector<live_event> live_events_;
  std::vector<object_event> object_events_;
};

INSTANTIATE_TEST_SUITE_P(modes, objects,
                         ::testing::Values(conversion_mode::thunk, conversion_mode::portable),
                         [](const auto& p) { return std::string(to_string(p.param)); });

TEST_P(objects, create_needs_a_serving_version_and_a_known_class) {
  EXPECT_THAT(rt_->create<objs::ITest>(objs::test_class), HasCode(errc::class_not_found));
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  EXPECT_THAT(rt_->create<objs::ITest>(sdk::parse_iid("00000000-0000-0000-0000-000000000001")),
              HasCode(errc::class_not_found));
  EXPECT_THAT(rt_->create<IOther>(objs::test_class), HasCode(errc::interface_not_supported));
  auto o = rt_->create<unknown>(objs::test_class);  // the root interface of every class
  ASSERT_THAT(o, IsOk());
  EXPECT_EQ(rt_->live_objects(), 1u);
  EXPECT_THAT(o->query<objs::ITest>(), IsOk());
  EXPECT_THAT(o->query<IOther>(), HasCode(errc::interface_not_supported));
  o->reset();
  EXPECT_EQ(rt_->live_objects(), 0u);
}

TEST_P(objects, refcounting_destroys_once_at_the_last_release) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref a = make();
  {
    test_ref b = a;
    test_ref c = b;
    EXPECT_EQ(a.get()->ref_count(), 3u);
  }
  EXPECT_EQ(a.get()->ref_count(), 1u);
  EXPECT_EQ(rt_->stats().destroyed, 0u);
  a.reset();
  EXPECT_EQ(rt_->stats().destroyed, 1u);
  EXPECT_EQ(rt_->live_objects(), 0u);
}

// The seed: two v1 objects, a swap, each converted on its first call, b = 77, a kept.
TEST_P(objects, objects_convert_on_their_first_call_after_a_swap) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref one = make(), two = make();
  EXPECT_EQ(one->version(), 1);
  EXPECT_EQ(two->get_b(), -1);
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  EXPECT_EQ(rt_->stats().converted, 0u);  // nothing walks the objects at the swap
  EXPECT_EQ(version_info("1.0.0").live_objects, 2u);
  EXPECT_EQ(one->version(), 2);
  EXPECT_EQ(rt_->stats().converted, 1u);
  EXPECT_EQ(two->get_b(), 77);
  EXPECT_EQ(two->get_a(), 2008);
  EXPECT_EQ(one->get_a(), 2008);
  EXPECT_EQ(rt_->stats().converted, 2u);  // once per object
  EXPECT_EQ(one->version(), 2);
  EXPECT_EQ(rt_->stats().converted, 2u);
  EXPECT_STREQ(two->tag(), "v2");
  EXPECT_EQ(version_info("2.0.0").live_objects, 2u);
  // The last v1 object converted: v1's image goes.
  EXPECT_EQ(unloaded("1.0.0"), 1u);
  EXPECT_TRUE(version_info("1.0.0").released);
}

// Every way arguments travel: each method is the first call of its own unconverted object,
// so the conversion path (thunk or handle) carries exactly that signature.
TEST_P(objects, every_signature_survives_the_converting_call) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  constexpr int k_methods = 14;
  std::vector<test_ref> o;
  for (int i = 0; i < k_methods; ++i) o.push_back(make(100 + i));
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  for (int round = 0; round < 2; ++round) {  // converting calls, then plain ones
    SCOPED_TRACE(round == 0 ? "first calls" : "later calls");
    constexpr std::int64_t v2 = 2000000;
    EXPECT_EQ(o[0]->sum0(), v2);
    EXPECT_EQ(o[1]->sum1(7), v2 + 7);
    EXPECT_EQ(o[2]->sum2(1, 2), v2 + 5);
    EXPECT_EQ(o[3]->sum5(1, 2, 3, 4, 5), v2 + 55);
    EXPECT_EQ(o[4]->sum8(1, 2, 3, 4, 5, 6, 7, 8), v2 + 204);
    EXPECT_DOUBLE_EQ(o[5]->dsum(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 2000.0 + 385);
    EXPECT_DOUBLE_EQ(o[6]->mixed(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 2000.0 + 385);
    objs::big b = o[7]->make_big(3, 5.0);
    EXPECT_EQ(b.v[0], 3);
    EXPECT_EQ(b.v[1], 15);
    EXPECT_EQ(b.v[2], 107);  // the object's a, carried by the converter
    EXPECT_EQ(b.v[3], 2);
    objs::pair p = o[8]->make_pair(11);
    EXPECT_EQ(p.first, 11);
    EXPECT_EQ(p.second, 2);
    EXPECT_EQ(o[9]->over(std::int64_t{41}), v2 + 42);
    EXPECT_DOUBLE_EQ(o[10]->over(3.0), 2001.5);
    EXPECT_EQ(o[11]->slow(1), 2);
    EXPECT_STREQ(o[12]->tag(), "v2");
    EXPECT_EQ(o[13]->get_b(), 77);
  }
  EXPECT_EQ(rt_->stats().converted, static_cast<std::uint64_t>(k_methods));
  for (int i = 0; i < k_methods; ++i) EXPECT_EQ(o[i]->get_a(), 100 + i);
}

TEST_P(objects, the_old_image_stays_until_the_last_object_is_converted_or_destroyed) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref called = make(), destroyed = make(), kept = make();
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  EXPECT_EQ(object_events(object_event_kind::image_kept), 1u);
  EXPECT_EQ(unloaded("1.0.0"), 0u);
  EXPECT_EQ(called->version(), 2);
  destroyed.reset();  // never called: destroyed by the old version's code
  EXPECT_EQ(rt_->stats().destroyed, 1u);
  EXPECT_EQ(unloaded("1.0.0"), 0u);
  EXPECT_FALSE(version_info("1.0.0").released);
  EXPECT_EQ(version_info("1.0.0").live_objects, 1u);
  EXPECT_EQ(kept->get_a(), 2008);
  EXPECT_EQ(object_events(object_event_kind::image_released), 1u);
  EXPECT_EQ(unloaded("1.0.0"), 1u);
  EXPECT_EQ(rt_->stats().converted, 2u);
}

TEST_P(objects, unconverted_objects_are_destroyed_correctly) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  {
    std::vector<test_ref> many;
    for (int i = 0; i < 100; ++i) many.push_back(make(i));
    swap(LIVEMOD_FIXTURE_OBJS_V2);
  }
  EXPECT_EQ(rt_->stats().destroyed, 100u);
  EXPECT_EQ(rt_->stats().converted, 0u);
  EXPECT_EQ(rt_->live_objects(), 0u);
  EXPECT_EQ(unloaded("1.0.0"), 1u);
}

TEST_P(objects, the_last_reference_released_on_another_thread) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref a = make(), b = make();
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  std::thread t([a = std::move(a), b = std::move(b)]() mutable {
    EXPECT_EQ(a->get_b(), 77);  // converted on this thread
    a.reset();
    b.reset();  // unconverted: the old destructor, on this thread
  });
  t.join();
  EXPECT_EQ(rt_->live_objects(), 0u);
  EXPECT_EQ(unloaded("1.0.0"), 1u);
}

TEST_P(objects, two_threads_calling_the_same_unconverted_objects_convert_each_once) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  constexpr int k_objects = 500;
  std::vector<test_ref> o;
  for (int i = 0; i < k_objects; ++i) o.push_back(make(i));
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  std::atomic<int> ready{0};
  std::atomic<int> wrong{0};
  auto caller = [&] {
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    for (int i = 0; i < k_objects; ++i)
      if (o[i]->sum1(i) != 2000000 + i || o[i]->get_b() != 77) wrong.fetch_add(1);
  };
  std::thread t1(caller), t2(caller);
  t1.join();
  t2.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(rt_->stats().converted, static_cast<std::uint64_t>(k_objects));
  for (int i = 0; i < k_objects; ++i) EXPECT_EQ(o[i]->get_a(), i);
}

// One thread is inside a slow conversion (the v2 converter sleeps for objects with a = 42);
// another calls the same object meanwhile: it waits, and runs on v2 once.
TEST_P(objects, a_call_during_the_conversion_waits_for_it) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref o = make(42);
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  std::atomic<bool> started{false};
  std::int64_t b_seen = 0;
  std::thread converter([&] {
    started = true;
    EXPECT_EQ(o->version(), 2);
  });
  while (!started) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::thread other([&] { b_seen = o->get_b(); });
  converter.join();
  other.join();
  EXPECT_EQ(b_seen, 77);
  EXPECT_EQ(o->get_a(), 42);
  EXPECT_EQ(rt_->stats().converted, 1u);
}

// v1 -> v2 -> v3 with v1 objects never called in v2: converters chain (v1 -> v2 -> v3 on the
// first call), and v2's image stays while a v1 object remains.
TEST_P(objects, converters_chain_across_two_swaps) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref in_v2 = make(1), late = make(2), dropped = make(3), latest = make(4);
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  EXPECT_EQ(in_v2->version(), 2);
  swap(LIVEMOD_FIXTURE_OBJS_V3);
  EXPECT_FALSE(version_info("1.0.0").released);
  EXPECT_FALSE(version_info("2.0.0").released);
  EXPECT_EQ(late->version(), 3);  // v1 -> v2 -> v3
  EXPECT_EQ(late->get_b(), 77);
  EXPECT_EQ(late->get_a(), 2);
  EXPECT_STREQ(late->tag(), "v3");
  EXPECT_EQ(in_v2->version(), 3);  // v2 -> v3
  dropped.reset();
  EXPECT_EQ(unloaded("1.0.0"), 0u);
  EXPECT_EQ(unloaded("2.0.0"), 0u);  // `latest` is still a v1 object: it needs v2's converter
  EXPECT_EQ(latest->make_big(1, 1.0).v[3], 3);
  EXPECT_EQ(unloaded("1.0.0"), 1u);
  EXPECT_EQ(unloaded("2.0.0"), 1u);
  EXPECT_EQ(version_info("3.0.0").live_objects, 3u);
  EXPECT_EQ(rt_->stats().converted, 1u + 2u + 1u + 2u);
}

TEST_P(objects, a_swap_skipping_the_version_a_converter_needs_is_refused) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref o = make();
  EXPECT_THAT(mod_->swap_to(LIVEMOD_FIXTURE_OBJS_V3), HasCode(errc::converter_missing));
  EXPECT_EQ(mod_->current_version(), "1.0.0");
  EXPECT_EQ(o->version(), 1);
}

TEST_P(objects, a_missing_converter_refuses_the_swap_before_publish) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  {
    test_ref o = make();
    EXPECT_THAT(mod_->swap_to(LIVEMOD_FIXTURE_OBJS_V2_NO_CONVERTER),
                HasCode(errc::converter_missing));
    EXPECT_EQ(mod_->current_version(), "1.0.0");  // the old version keeps serving
    EXPECT_EQ(o->version(), 1);
    test_ref fresh = make();
    EXPECT_EQ(fresh->version(), 1);
  }
  // With no live objects there is nothing to convert: the same file swaps in.
  swap(LIVEMOD_FIXTURE_OBJS_V2_NO_CONVERTER);
  EXPECT_EQ(make()->version(), 2);
}

TEST_P(objects, a_class_the_new_version_lacks_refuses_the_swap_while_it_has_objects) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  auto only = rt_->create<objs::ITest>(objs::v1_only_class);
  ASSERT_THAT(only, IsOk());
  EXPECT_THAT(mod_->swap_to(LIVEMOD_FIXTURE_OBJS_V2), HasCode(errc::converter_missing));
  only->reset();
  swap(LIVEMOD_FIXTURE_OBJS_V2);
}

// A converter that fails leaves the object an object of the old version: its calls keep
// running the old code, the old image stays mapped until it is destroyed.
TEST_P(objects, a_failed_conversion_leaves_the_object_on_the_old_version) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref good = make(5), bad = make(13);
  swap(LIVEMOD_FIXTURE_OBJS_V2_CONVERTER_FAILS);
  EXPECT_EQ(good->version(), 2);
  EXPECT_EQ(bad->version(), 1);
  EXPECT_EQ(bad->get_a(), 13);
  EXPECT_EQ(bad->get_b(), -1);
  EXPECT_EQ(bad->sum8(1, 2, 3, 4, 5, 6, 7, 8), 1000000 + 204);
  EXPECT_EQ(rt_->stats().conversion_failures, 1u);  // tried once, not on every call
  EXPECT_EQ(object_events(object_event_kind::conversion_failed), 1u);
  EXPECT_EQ(unloaded("1.0.0"), 0u);
  bad.reset();
  EXPECT_EQ(unloaded("1.0.0"), 1u);
  EXPECT_EQ(good->get_b(), 77);
}

// The manifest declares ITest with its method count: the shrunk version is refused at
// preflight, from its file alone, before any of its code has run.
TEST_P(objects, an_interface_that_shrank_is_refused_at_preflight) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  EXPECT_THAT(mod_->swap_to(LIVEMOD_FIXTURE_OBJS_V2_SHRUNK),
              HasCode(errc::interface_incompatible));
  EXPECT_EQ(mod_->current_version(), "1.0.0");
  std::lock_guard lock(mu_);
  ASSERT_FALSE(live_events_.empty());
  EXPECT_EQ(live_events_.back().kind, live_event_kind::refused);
  EXPECT_EQ(live_events_.back().step, swap_step::preflight);
}

// Manifests that do not declare the object interface: the runtime's own check of the type
// info refuses the shrunk version after load, still before publish.
TEST_P(objects, an_undeclared_interface_that_shrank_is_refused_before_publish) {
  swap(LIVEMOD_FIXTURE_OBJS_V1_UNDECLARED);
  EXPECT_THAT(mod_->swap_to(LIVEMOD_FIXTURE_OBJS_V2_SHRUNK_UNDECLARED),
              HasCode(errc::object_interface_shrank));
  EXPECT_EQ(mod_->current_version(), "1.0.0");
  std::lock_guard lock(mu_);
  ASSERT_FALSE(live_events_.empty());
  EXPECT_EQ(live_events_.back().kind, live_event_kind::refused);
  EXPECT_EQ(live_events_.back().step, swap_step::publish);
}

TEST_P(objects, a_million_live_objects_swap_and_convert_lazily) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  constexpr int k_objects = 1000000;
  std::vector<test_ref> o;
  o.reserve(k_objects);
  for (int i = 0; i < k_objects; ++i) o.push_back(make());
  EXPECT_EQ(rt_->live_objects(), static_cast<std::uint64_t>(k_objects));
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  EXPECT_EQ(rt_->stats().converted, 0u);
  for (int i = 0; i < k_objects; i += 1000) EXPECT_EQ(o[i]->get_b(), 77);
  EXPECT_EQ(rt_->stats().converted, static_cast<std::uint64_t>(k_objects / 1000));
  o.clear();
  EXPECT_EQ(rt_->live_objects(), 0u);
  EXPECT_EQ(unloaded("1.0.0"), 1u);
}

// After a rollback the objects are not converted back (there are no backward converters):
// they keep the version they have, whose image stays while they live.
TEST_P(objects, a_rollback_keeps_objects_on_their_version) {
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref o = make();
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  EXPECT_EQ(o->version(), 2);
  ASSERT_THAT(mod_->rollback(), IsOk());
  EXPECT_EQ(mod_->current_version(), "1.0.0");
  EXPECT_EQ(o->version(), 2);
  EXPECT_EQ(make()->version(), 1);
  EXPECT_EQ(unloaded("2.0.0"), 0u);
  o.reset();
  EXPECT_EQ(unloaded("2.0.0"), 1u);
}

// The host's ITest has 20 slots; a module built with a shorter one cannot serve it.
TEST_P(objects, a_module_whose_interface_is_not_the_hosts_cannot_create_it) {
  swap(LIVEMOD_FIXTURE_OBJS_V2_SHRUNK);
  EXPECT_THAT(rt_->create<objs::ITest>(objs::test_class), HasCode(errc::object_layout_changed));
  EXPECT_THAT(rt_->create<unknown>(objs::test_class), IsOk());  // its root is the same
}

// A health check that fails after publish puts v1 back: its objects were never touched.
TEST_P(objects, a_failed_health_check_leaves_the_objects_on_their_version) {
  live_options lo;
  lo.interface_id = LIVEMOD_CLASSES_API_ID;
  lo.participant = rt_->participant();
  auto healthy = std::make_shared<bool>(true);  // outlives this body: the engine keeps the check
  lo.health_check = [healthy](const void*) -> result<void> {
    if (*healthy) return {};
    return fail(errc::health_check_failed, "", "unhealthy");
  };
  mod_.reset();
  auto m = live_module::create(lo);
  ASSERT_THAT(m, IsOk());
  mod_ = std::move(*m);
  swap(LIVEMOD_FIXTURE_OBJS_V1);
  test_ref o = make();
  *healthy = false;
  EXPECT_THAT(mod_->swap_to(LIVEMOD_FIXTURE_OBJS_V2), HasCode(errc::health_check_failed));
  EXPECT_EQ(mod_->current_version(), "1.0.0");
  EXPECT_EQ(o->version(), 1);
  EXPECT_EQ(make()->version(), 1);
  EXPECT_EQ(rt_->stats().converted, 0u);
  *healthy = true;
  swap(LIVEMOD_FIXTURE_OBJS_V2);
  EXPECT_EQ(o->version(), 2);
}

TEST(object_sdk, type_info_follows_the_vtable) {
  const livemod_interface_info* info = sdk::type_info_of<objs::ITest>();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->method_count, 3u + 17u);  // two destructor slots, query_interface, 17 methods
  EXPECT_STREQ(info->method_names[3], "version");
  EXPECT_STREQ(info->method_names[16], "over");
  EXPECT_STREQ(info->method_signatures[16], "std::int64_t(std::int64_t)");
  EXPECT_STREQ(info->method_signatures[17], "double(double)");
  EXPECT_EQ(info->returns_in_memory[14], 1);  // make_big: 32 bytes
  EXPECT_EQ(info->returns_in_memory[15], 0);  // make_pair: 16 bytes, trivially copyable
  EXPECT_EQ(info->base, sdk::type_info_of<unknown>());
  EXPECT_TRUE(sdk::implements(info, sdk::iid_of<unknown>()));
  EXPECT_FALSE(sdk::implements(info, sdk::iid_of<IOther>()));
}

TEST(object_sdk, parse_iid_reads_a_uuid) {
  constexpr livemod_iid id = sdk::parse_iid("01234567-89ab-cdef-0011-2233445566FF");
  static_assert(id.hi == 0x0123456789abcdefull && id.lo == 0x00112233445566ffull);
}

TEST(object_runtime_options, thunk_mode_needs_an_emitter) {
  object_options o;
  o.mode = conversion_mode::thunk;
  auto rt = object_runtime::create(o);
  if (thunks_supported())
    EXPECT_THAT(rt, IsOk());
  else
    EXPECT_THAT(rt, HasCode(errc::unsupported_platform));
}

}  // namespace
}  // namespace livemod
