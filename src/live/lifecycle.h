// The lifecycle calls of one staged version, outside the registry (which keeps one image per
// module and namespace; a swap needs two side by side): open, on_load with ABI negotiation and
// a timeout, the API table, and the state entry points. Internal to the live layer.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "livemod/error.h"
#include "livemod/library.h"
#include "livemod/manifest.h"
#include "livemod/sdk/module.h"
#include "livemod/sdk/state.h"

namespace livemod::live_detail {

struct started_version {
  library lib;
  const void* api = nullptr;
  livemod_on_unload_fn on_unload = nullptr;
  livemod_save_state_fn save_state = nullptr;
  livemod_restore_state_fn restore_state = nullptr;
};

// dlopen `staged`, find the entry points the manifest names, run on_load(host, ABI) on a helper
// thread under the crash guard, and give up after `timeout`: the image is then moved into
// `abandoned` (never closed: its on_load may still be running) and on_load_timeout returned.
// Errors: the open errors, symbol_not_found, init_failed (on_load failed, crashed or refused the
// ABI), on_load_timeout, interface_incompatible (no table for `interface_id`).
result<started_version> start_version(const std::filesystem::path& staged, const manifest& m,
                                      const std::string& interface_id,
                                      std::chrono::milliseconds timeout,
                                      std::vector<library>& abandoned);

// on_unload under the crash guard. Errors: module_crashed / stack_overflow.
result<void> stop_version(const started_version& v) noexcept;

// Whether `path` appears in /proc/self/maps.
bool is_mapped(const std::filesystem::path& path);

}  // namespace livemod::live_detail
