#include "live/lifecycle.h"

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "livemod/crash_guard.h"

namespace livemod::live_detail {
namespace {

void log_to_stderr(void*, int level, const char* message) {
  if (level >= LIVEMOD_LOG_WARNING) std::fprintf(stderr, "livemod module: %s\n", message);
}

// Static: a timed-out on_load may still read it after the swap has given up.
const livemod_host_api host_api = {sizeof(livemod_host_api), LIVEMOD_ABI_VERSION, log_to_stderr,
                                   nullptr, nullptr};

struct on_load_call {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::int32_t rc = 0;
  std::optional<error> crash;
};

}  // namespace

result<started_version> start_version(const std::filesystem::path& staged, const manifest& m,
                                      const std::string& interface_id,
                                      std::chrono::milliseconds timeout,
                                      std::vector<library>& abandoned) {
  started_version v;
  auto lib = library::open(staged);
  if (!lib) return fail(lib.error());
  v.lib = std::move(*lib);
  const std::string file = m.name + " " + m.version.to_string();

  auto get_api = v.lib.symbol<std::remove_pointer_t<livemod_get_api_fn>>(LIVEMOD_GET_API_SYMBOL);
  if (!get_api)
    return fail(errc::symbol_not_found, file, "exports no " LIVEMOD_GET_API_SYMBOL,
                "define it (livemod/sdk/state.h) to hand the host its API table");
  if (const std::string& name = m.entry_points.on_unload; !name.empty()) {
    auto f = v.lib.symbol<std::remove_pointer_t<livemod_on_unload_fn>>(name);
    if (!f) return fail(f.error());
    v.on_unload = *f;
  }
  if (const std::string& name = m.entry_points.save_state; !name.empty()) {
    auto f = v.lib.symbol<std::remove_pointer_t<livemod_save_state_fn>>(name);
    if (!f) return fail(f.error());
    v.save_state = *f;
  }
  if (const std::string& name = m.entry_points.restore_state; !name.empty()) {
    auto f = v.lib.symbol<std::remove_pointer_t<livemod_restore_state_fn>>(name);
    if (!f) return fail(f.error());
    v.restore_state = *f;
  }

  if (const std::string& name = m.entry_points.on_load; !name.empty()) {
    auto f = v.lib.symbol<std::remove_pointer_t<livemod_on_load_fn>>(name);
    if (!f) return fail(f.error());
    // A helper thread, so a hanging on_load costs the swap `timeout` and not the engine.
    auto call = std::make_shared<on_load_call>();
    livemod_on_load_fn on_load = *f;
    try {
      std::thread([call, on_load] {
        struct context {
          livemod_on_load_fn fn;
          std::int32_t rc;
        } ctx{on_load, 0};
        auto r = run_guarded(
            [](void* c) noexcept {
              auto& x = *static_cast<context*>(c);
              x.rc = x.fn(&host_api, LIVEMOD_ABI_VERSION);
            },
            &ctx);
        std::lock_guard lock(call->mu);
        if (!r) call->crash = r.error();
        call->rc = ctx.rc;
        call->done = true;
        call->cv.notify_all();
      }).detach();
    } catch (const std::exception& e) {
      return fail(errc::load_failed, file, std::string("cannot start a thread for on_load: ") + e.what());
    }
    std::unique_lock lock(call->mu);
    if (!call->cv.wait_for(lock, timeout, [&] { return call->done; })) {
      abandoned.push_back(std::move(v.lib));
      return fail(errc::on_load_timeout, file,
                  "on_load did not return within " + std::to_string(timeout.count()) + " ms",
                  "the image stays loaded and is never called; fix on_load and rebuild");
    }
    if (call->crash)
      return fail(errc::init_failed, file, "on_load crashed: " + call->crash->cause(),
                  "fix on_load; the old version keeps serving");
    if (call->rc < 0)
      return fail(errc::init_failed, file,
                  "on_load failed with code " + std::to_string(-call->rc),
                  "see the module's log; the old version keeps serving");
    if (call->rc != LIVEMOD_ABI_VERSION)
      return fail(errc::init_failed, file,
                  "on_load answered livemod abi " + std::to_string(call->rc) + ", the host speaks " +
                      std::to_string(LIVEMOD_ABI_VERSION),
                  "rebuild the module against this host's livemod sdk");
  }
  v.api = (*get_api)(interface_id.c_str());
  if (!v.api)
    return fail(errc::interface_incompatible, file,
                "livemod_get_api returned no table for interface '" + interface_id + "'",
                "return the table for every interface the manifest declares");
  return v;
}

result<void> stop_version(const started_version& v) noexcept {
  if (!v.on_unload) return {};
  return run_guarded([](void* f) noexcept { reinterpret_cast<livemod_on_unload_fn>(f)(); },
                     reinterpret_cast<void*>(v.on_unload));
}

bool is_mapped(const std::filesystem::path& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const std::string& p = path.native();
  while (std::getline(maps, line))
    if (line.size() >= p.size() && line.find(p) != std::string::npos) return true;
  return false;
}

}  // namespace livemod::live_detail
