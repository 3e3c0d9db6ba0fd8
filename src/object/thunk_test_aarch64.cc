// The thunk and code-memory cases (thunk_cases.h) on AArch64, under a driver small enough to
// cross-compile without GoogleTest: built with aarch64-linux-gnu-g++ and run by qemu-user
// (src/object/CMakeLists.txt). Prints one line per case and exits 1 if any check failed.
//
//   qemu-aarch64 -L /usr/aarch64-linux-gnu ./livemod_thunk_test_aarch64 [substring]
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "livemod/error.h"

namespace livemod::thunk_driver {

struct test_case {
  const char* name;
  void (*run)();
};

std::vector<test_case>& cases() {
  static std::vector<test_case> all;
  return all;
}

struct registrar {
  registrar(const char* name, void (*run)()) { cases().push_back({name, run}); }
};

int failures_in_case = 0;

void report(const char* file, int line, const std::string& what) {
  ++failures_in_case;
  std::cout << file << ":" << line << ": check failed: " << what << "\n";
}

template <class A, class B>
void check_eq(const A& a, const B& b, const char* text_a, const char* text_b, const char* file,
              int line) {
  if (a == b) return;
  std::cout << file << ":" << line << ": check failed: " << text_a << " == " << text_b
            << "\n  left:  " << a << "\n  right: " << b << "\n";
  ++failures_in_case;
}

template <class R>
std::string describe(const R& r) {
  return r ? std::string("succeeded") : r.error().describe();
}

}  // namespace livemod::thunk_driver

#define THUNK_CASE(name)                                                                  \
  void name();                                                                            \
  const ::livemod::thunk_driver::registrar name##_registrar{#name, &name};                \
  void name()
#define THUNK_CHECK(condition) \
  ((condition) ? (void)0 : ::livemod::thunk_driver::report(__FILE__, __LINE__, #condition))
#define THUNK_CHECK_EQ(a, b) \
  ::livemod::thunk_driver::check_eq((a), (b), #a, #b, __FILE__, __LINE__)
#define THUNK_REQUIRE(condition)                                                  \
  do {                                                                            \
    if (!(condition)) {                                                           \
      ::livemod::thunk_driver::report(__FILE__, __LINE__, #condition);            \
      return;                                                                     \
    }                                                                             \
  } while (false)
#define THUNK_REQUIRE_OK(result)                                                          \
  do {                                                                                    \
    const auto& thunk_result_ = (result);                                                 \
    if (!thunk_result_) {                                                                 \
      ::livemod::thunk_driver::report(                                                    \
          __FILE__, __LINE__,                                                             \
          std::string(#result) + ": " + ::livemod::thunk_driver::describe(thunk_result_)); \
      return;                                                                             \
    }                                                                                     \
  } while (false)
#define THUNK_CHECK_CODE(result, wanted)                                                    \
  do {                                                                                    \
    const auto& thunk_result_ = (result);                                                 \
    if (thunk_result_ || thunk_result_.error().code() != (wanted)) {                        \
      ::livemod::thunk_driver::report(                                                    \
          __FILE__, __LINE__,                                                             \
          std::string(#result) + " fails with " + std::string(::livemod::to_string(wanted)) + \
              ", got: " + ::livemod::thunk_driver::describe(thunk_result_));              \
    }                                                                                     \
  } while (false)

#include "object/thunk_cases.h"

int main(int argc, char** argv) {
  using namespace livemod::thunk_driver;
  const char* filter = argc > 1 ? argv[1] : "";
  int failed = 0;
  int ran = 0;
  for (const test_case& c : cases()) {
    if (std::strstr(c.name, filter) == nullptr) continue;
    failures_in_case = 0;
    c.run();
    ++ran;
    std::cout << (failures_in_case == 0 ? "[ ok ] " : "[FAIL] ") << c.name << std::endl;
    if (failures_in_case != 0) ++failed;
  }
  std::cout << ran - failed << " of " << ran << " cases passed\n";
  return failed == 0 && ran > 0 ? 0 : 1;
}
