// Entry points written with livemod/sdk/module.hpp whose C++ bodies throw, fail or succeed;
// sdk_test calls each through its C pointer and checks what reaches the host.
#include <livemod/sdk/module.hpp>
#include <stdexcept>

namespace {

int calls = 0;  // how many times an author function ran

void load_throws(livemod::sdk::host&) {
  ++calls;
  throw std::runtime_error("config file /etc/throwing.conf is missing");
}

void load_throws_int() {
  ++calls;
  throw 42;
}

void load_fails(livemod::sdk::host&) {
  ++calls;
  throw livemod::sdk::failure(LIVEMOD_E_FAILED, "port 8080 is taken");
}

int32_t load_returns_code(livemod::sdk::host&) {
  ++calls;
  return -LIVEMOD_E_FAILED;
}

void load_ok(livemod::sdk::host& host) {
  ++calls;
  host.log(LIVEMOD_LOG_INFO, host.abi_version() == LIVEMOD_ABI_VERSION ? "loaded" : "odd abi");
}

// Logs what the host says of the dependency "math": the typed face over dependency_present.
void load_asks(livemod::sdk::host& host) {
  using state = livemod::sdk::host::dependency_state;
  switch (host.dependency("math")) {
    case state::present:
      host.log(LIVEMOD_LOG_INFO, "math present");
      break;
    case state::absent:
      host.log(LIVEMOD_LOG_INFO, "math absent");
      break;
    case state::not_listed:
      host.log(LIVEMOD_LOG_INFO, "math not listed");
      break;
    case state::unknown:
      host.log(LIVEMOD_LOG_INFO, "math unknown");
      break;
  }
}

}  // namespace

extern "C" LIVEMOD_EXPORT int throwing_calls() { return calls; }

LIVEMOD_ON_LOAD(throwing_on_load, load_throws);
LIVEMOD_ON_LOAD(throwing_on_load_int, load_throws_int);
LIVEMOD_ON_LOAD(throwing_on_load_failure, load_fails);
LIVEMOD_ON_LOAD(throwing_on_load_code, load_returns_code);
LIVEMOD_ON_LOAD(throwing_on_load_ok, load_ok);
LIVEMOD_ON_LOAD(throwing_on_load_asks, load_asks);
LIVEMOD_ON_UNLOAD(throwing_on_unload, [] {
  ++calls;
  throw std::logic_error("unload went wrong");
});
