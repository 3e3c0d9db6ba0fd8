// The interface of the object fixture "objs" (versions v1..v3 and broken variants in this
// folder): methods shaped to exercise every way arguments and results travel through a thunk.
#pragma once

#include <livemod/sdk/object.hpp>

#include <cstdint>

namespace objs {

// 32 bytes: returned through the hidden pointer on x86-64 SysV.
struct big {
  std::int64_t v[4];
};
// 16 bytes, trivially copyable: returned in rax:rdx.
struct pair {
  std::int64_t first, second;
};

struct ITest : livemod::unknown {
  virtual int version() = 0;  // the version of the code that runs (1, 2, 3)
  virtual std::int64_t get_a() = 0;
  virtual std::int64_t get_b() = 0;  // -1 in v1, which has no b
  virtual void set_a(std::int64_t a) = 0;
  virtual std::int64_t sum0() = 0;
  virtual std::int64_t sum1(std::int64_t a) = 0;
  virtual std::int64_t sum2(std::int64_t a, std::int64_t b) = 0;
  virtual std::int64_t sum5(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d,
                            std::int64_t e) = 0;
  virtual std::int64_t sum8(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d,
                            std::int64_t e, std::int64_t f, std::int64_t g, std::int64_t h) = 0;
  virtual double dsum(double a, float b, double c, float d, double e, float f, double g,
                      float h, double i, double j) = 0;  // 10 floating args: two on the stack
  virtual double mixed(int a, double b, std::int64_t c, float d, char e, double f,
                       std::int64_t g, std::int64_t h, std::int64_t i, double j) = 0;
  virtual big make_big(std::int64_t seed, double scale) = 0;
  virtual pair make_pair(std::int64_t x) const = 0;
  virtual std::int64_t over(std::int64_t x) = 0;
  virtual double over(double x) = 0;
  // Sleeps `ms` inside the method, then returns version() (a call in progress across a swap).
  virtual int slow(int ms) = 0;
#ifndef OBJS_SHRUNK
  virtual const char* tag() const = 0;  // "v1", "v2" ...; the variant OBJS_SHRUNK lacks it
#endif
};

// The methods every variant declares; OBJS_SHRUNK's interface stops there.
#define OBJS_ITEST_COMMON_METHODS                                                             \
  LIVEMOD_METHOD(version, int()), LIVEMOD_METHOD(get_a, std::int64_t()),                       \
      LIVEMOD_METHOD(get_b, std::int64_t()), LIVEMOD_METHOD(set_a, void(std::int64_t)),         \
      LIVEMOD_METHOD(sum0, std::int64_t()), LIVEMOD_METHOD(sum1, std::int64_t(std::int64_t)),   \
      LIVEMOD_METHOD(sum2, std::int64_t(std::int64_t, std::int64_t)),                           \
      LIVEMOD_METHOD(sum5, std::int64_t(std::int64_t, std::int64_t, std::int64_t,               \
                                        std::int64_t, std::int64_t)),                           \
      LIVEMOD_METHOD(sum8, std::int64_t(std::int64_t, std::int64_t, std::int64_t,               \
                                        std::int64_t, std::int64_t, std::int64_t,               \
                                        std::int64_t, std::int64_t)),                           \
      LIVEMOD_METHOD(dsum, double(double, float, double, float, double, float, double, float,   \
                                  double, double)),                                             \
      LIVEMOD_METHOD(mixed, double(int, double, std::int64_t, float, char, double,              \
                                   std::int64_t, std::int64_t, std::int64_t, double)),          \
      LIVEMOD_METHOD(make_big, big(std::int64_t, double)),                                      \
      LIVEMOD_METHOD(make_pair, pair(std::int64_t) const),                                      \
      LIVEMOD_METHOD(over, std::int64_t(std::int64_t)), LIVEMOD_METHOD(over, double(double)),   \
      LIVEMOD_METHOD(slow, int(int))

#ifdef OBJS_SHRUNK
LIVEMOD_INTERFACE(ITest, livemod::unknown, "8a1f0c52-6b7e-4d19-9c3a-5e2f7b8d4a61",
                  OBJS_ITEST_COMMON_METHODS);
#else
LIVEMOD_INTERFACE(ITest, livemod::unknown, "8a1f0c52-6b7e-4d19-9c3a-5e2f7b8d4a61",
                  OBJS_ITEST_COMMON_METHODS, LIVEMOD_METHOD(tag, const char*() const));
#endif

// The class every version exports.
inline constexpr livemod_iid test_class = livemod::sdk::parse_iid("3c9d2e41-7a58-4f06-b1e2-9d4c6a8f0b37");
// A class only v1 has (no converter anywhere): for "class missing in the new version".
inline constexpr livemod_iid v1_only_class = livemod::sdk::parse_iid("51e7a9c3-0d2b-4e8f-a6c1-2b9f3d7e5a04");

}  // namespace objs
