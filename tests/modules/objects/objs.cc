// The object fixture "objs": one source, built into versions by compile definitions
// (CMakeLists.txt here). OBJS_VERSION 1 keeps {a}, 2 keeps {a, b}, 3 keeps {a, b, c}; each
// converts from the one before. Variants: OBJS_NO_CONVERTER, OBJS_CONVERTER_FAILS (the
// converter throws for objects whose a is 13), OBJS_SHRUNK (the interface lost its last method).
#include <livemod/sdk/module.hpp>
#include <livemod/sdk/object.hpp>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "objects_api.h"

namespace {

using objs::big;
using objs::pair;

struct data_v1 {
  std::int64_t a = 2008;
};
struct data_v2 {
  std::int64_t a = 2008;
  std::int64_t b = 77;
};
struct data_v3 {
  std::int64_t a = 2008;
  std::int64_t b = 77;
  std::string c = "a string long enough to live on the heap, not in the small buffer";
};

#if OBJS_VERSION == 1
using data = data_v1;
#elif OBJS_VERSION == 2
using data = data_v2;
#else
using data = data_v3;
#endif

class test_object final : public livemod::sdk::component<test_object, objs::ITest, data> {
 public:
  int version() override { return OBJS_VERSION; }
  std::int64_t get_a() override { return data().a; }
  std::int64_t get_b() override {
#if OBJS_VERSION == 1
    return -1;
#else
    return data().b;
#endif
  }
  void set_a(std::int64_t a) override { data().a = a; }
  // Each result carries the version (x 1000000) so a test sees which code ran.
  std::int64_t sum0() override { return tagged(0); }
  std::int64_t sum1(std::int64_t a) override { return tagged(a); }
  std::int64_t sum2(std::int64_t a, std::int64_t b) override { return tagged(a + 2 * b); }
  std::int64_t sum5(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d,
                    std::int64_t e) override {
    return tagged(a + 2 * b + 3 * c + 4 * d + 5 * e);
  }
  std::int64_t sum8(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d, std::int64_t e,
                    std::int64_t f, std::int64_t g, std::int64_t h) override {
    return tagged(a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h);
  }
  double dsum(double a, float b, double c, float d, double e, float f, double g, float h,
              double i, double j) override {
    return OBJS_VERSION * 1000.0 + a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h +
           9 * i + 10 * j;
  }
  double mixed(int a, double b, std::int64_t c, float d, char e, double f, std::int64_t g,
               std::int64_t h, std::int64_t i, double j) override {
    return OBJS_VERSION * 1000.0 + a + 2 * b + 3.0 * static_cast<double>(c) + 4 * d + 5 * e +
           6 * f + 7.0 * static_cast<double>(g) + 8.0 * static_cast<double>(h) +
           9.0 * static_cast<double>(i) + 10 * j;
  }
  big make_big(std::int64_t seed, double scale) override {
    auto s = static_cast<std::int64_t>(scale);
    return big{{seed, seed * s, data().a, OBJS_VERSION}};
  }
  pair make_pair(std::int64_t x) const override { return pair{x, OBJS_VERSION}; }
  std::int64_t over(std::int64_t x) override { return tagged(x + 1); }
  double over(double x) override { return OBJS_VERSION * 1000.0 + x / 2; }
  int slow(int ms) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return OBJS_VERSION;
  }
#ifndef OBJS_SHRUNK
  const char* tag() const override {
    return OBJS_VERSION == 1 ? "v1" : OBJS_VERSION == 2 ? "v2" : "v3";
  }
#endif

 private:
  std::int64_t tagged(std::int64_t v) { return OBJS_VERSION * 1000000 + v; }
};

#if OBJS_VERSION == 1
// A class that only version 1 has.
class v1_only final : public livemod::sdk::component<v1_only, objs::ITest, data_v1> {
 public:
  int version() override { return 1; }
  std::int64_t get_a() override { return data().a; }
  std::int64_t get_b() override { return -1; }
  void set_a(std::int64_t a) override { data().a = a; }
  std::int64_t sum0() override { return 0; }
  std::int64_t sum1(std::int64_t a) override { return a; }
  std::int64_t sum2(std::int64_t a, std::int64_t) override { return a; }
  std::int64_t sum5(std::int64_t a, std::int64_t, std::int64_t, std::int64_t,
                    std::int64_t) override {
    return a;
  }
  std::int64_t sum8(std::int64_t a, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                    std::int64_t, std::int64_t, std::int64_t) override {
    return a;
  }
  double dsum(double a, float, double, float, double, float, double, float, double,
              double) override {
    return a;
  }
  double mixed(int, double b, std::int64_t, float, char, double, std::int64_t, std::int64_t,
               std::int64_t, double) override {
    return b;
  }
  big make_big(std::int64_t seed, double) override { return big{{seed, 0, 0, 1}}; }
  pair make_pair(std::int64_t x) const override { return pair{x, 1}; }
  std::int64_t over(std::int64_t x) override { return x; }
  double over(double x) override { return x; }
  int slow(int) override { return 1; }
  const char* tag() const override { return "v1-only"; }
};
#endif

#if OBJS_VERSION == 2
data_v2 from_v1(data_v1& old) {
  // A slow conversion, for tests that call the object from another thread meanwhile.
  if (old.a == 42) std::this_thread::sleep_for(std::chrono::milliseconds(200));
#ifdef OBJS_CONVERTER_FAILS
  if (old.a == 13) throw std::runtime_error("a is 13: cannot convert");
#endif
  return data_v2{old.a, 77};
}
#elif OBJS_VERSION == 3
data_v3 from_v2(data_v2& old) { return data_v3{old.a, old.b, data_v3{}.c}; }
#endif

}  // namespace

#if OBJS_VERSION == 1
LIVEMOD_CLASSES(livemod::sdk::class_def<test_object>(objs::test_class, "objs.test", 1),
                livemod::sdk::class_def<v1_only>(objs::v1_only_class, "objs.v1_only", 1));
#elif OBJS_VERSION == 2 && defined(OBJS_NO_CONVERTER)
LIVEMOD_CLASSES(livemod::sdk::class_def<test_object>(objs::test_class, "objs.test", 2));
#elif OBJS_VERSION == 2
LIVEMOD_CLASSES(livemod::sdk::class_def<test_object>(objs::test_class, "objs.test", 2)
                    .converts_from<&from_v1>(1));
#else
LIVEMOD_CLASSES(livemod::sdk::class_def<test_object>(objs::test_class, "objs.test", 3)
                    .converts_from<&from_v2>(2));
#endif
LIVEMOD_CLASSES_API()
