// The demo's module: counts requests; the count survives swaps through save/restore.
// Versions are this one source with definitions (CMakeLists.txt): COUNTER_BUILD, and
// COUNTER_CRASH_FIRST_CALL for the build that crashes.
#include <livemod/sdk/module.hpp>
#include <livemod/sdk/state.hpp>

#include <atomic>
#include <csignal>
#include <cstring>

#include "counter_api.h"

namespace {
std::atomic<std::int64_t> requests{0};
#ifdef COUNTER_CRASH_FIRST_CALL
std::atomic<bool> crashed{false};
#endif

std::int32_t build() { return COUNTER_BUILD; }
std::int64_t handle() {
#ifdef COUNTER_CRASH_FIRST_CALL
  if (!crashed.exchange(true)) {
    std::raise(SIGSEGV);  // a bug the new version shipped with (as a null dereference would)
  }
#endif
  return ++requests;
}
const counter_api api = {build, handle};
}  // namespace

extern "C" LIVEMOD_EXPORT const void* livemod_get_api(const char* id) {
  return std::strcmp(id, COUNTER_API_ID) == 0 ? &api : nullptr;
}
LIVEMOD_ON_LOAD(counter_on_load, [] {});
LIVEMOD_ON_UNLOAD(counter_on_unload, [] {});
LIVEMOD_SAVE_STATE(counter_save, [](livemod::sdk::state_writer& w) { w.put("requests", requests.load()); });
LIVEMOD_RESTORE_STATE(counter_restore, [](const livemod::sdk::state_reader& r, std::uint32_t) {
  requests = r.get_int("requests", 0);
});
