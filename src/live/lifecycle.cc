#include "live/lifecycle.h"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "livemod/crash_guard.h"
#include "os/thread_name.h"
#include "registry/on_load_answer.h"

namespace livemod::live_detail {
namespace {

void log_to_stderr(void*, int level, const char* message) {
  if (level >= LIVEMOD_LOG_WARNING) std::fprintf(stderr, "livemod module: %s\n", message);
}

// Static: a timed-out on_load may still read it after the swap has given up.
const livemod_host_api host_api = {sizeof(livemod_host_api), LIVEMOD_ABI_VERSION, log_to_stderr,
                                   nullptr, nullptr};

// One long-lived thread runs every on_load (a thread per swap would cost its creation on the
// swap's critical path and leave a cached stack behind each time). When an on_load hangs, that
// thread is left to it and a new one starts on the next post.
class helper_thread {
 public:
  bool post(std::function<void()> job) {
    std::lock_guard lock(mu_);
    if (!q_) {
      try {
        q_ = std::make_shared<queue>();
        std::thread helper([q = q_] { q->run(); });
        os::name_thread(helper, "livemod-onload");
        helper.detach();
      } catch (...) {
        q_.reset();
        return false;
      }
    }
    {
      std::lock_guard ql(q_->mu);
      q_->jobs.push_back(std::move(job));
    }
    // Notified after the unlock: woken under the lock, the helper would block on the mutex at
    // once and need a second wake-up (one more context switch on the swap's critical path).
    q_->cv.notify_one();
    return true;
  }
  void abandon() {
    std::lock_guard lock(mu_);
    q_.reset();  // the stuck thread keeps its queue alive, and nothing more is posted to it
  }

 private:
  struct queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> jobs;
    [[noreturn]] void run() {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return !jobs.empty(); });
          job = std::move(jobs.front());
          jobs.pop_front();
        }
        job();
      }
    }
  };
  std::mutex mu_;
  std::shared_ptr<queue> q_;
};

helper_thread& helper() {
  static auto* h = new helper_thread;  // never destroyed: its thread outlives static destructors
  return *h;
}

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
    // On the helper thread, so a hanging on_load costs the swap `timeout` and not the engine.
    auto call = std::make_shared<on_load_call>();
    if (!helper().post([call, on = *f] {
          struct context {
            livemod_on_load_fn fn;
            std::int32_t rc;
          } ctx{on, 0};
          auto r = run_guarded(
              [](void* c) noexcept {
                auto& x = *static_cast<context*>(c);
                x.rc = x.fn(&host_api, LIVEMOD_ABI_VERSION);
              },
              &ctx);
          {
            std::lock_guard lock(call->mu);
            if (!r) call->crash = r.error();
            call->rc = ctx.rc;
            call->done = true;
          }
          call->cv.notify_all();  // after the unlock, as in post(); `call` is shared: still alive
        }))
      return fail(errc::load_failed, file, "cannot start a thread for on_load");
    std::unique_lock lock(call->mu);
    if (!call->cv.wait_for(lock, timeout, [&] { return call->done; })) {
      helper().abandon();  // that thread is stuck in on_load: the next call gets a new one
      abandoned.push_back(std::move(v.lib));
      return fail(errc::on_load_timeout, file,
                  "on_load did not return within " + std::to_string(timeout.count()) + " ms",
                  "the image stays loaded and is never called; fix on_load and rebuild");
    }
    if (call->crash)
      return fail(errc::init_failed, file, "on_load crashed: " + call->crash->cause(),
                  "fix on_load; the old version keeps serving");
    auto abi = registry_detail::read_on_load_answer(call->rc, m.name, file, "",
                                                    "see the module's log; the old version keeps "
                                                    "serving");
    if (!abi) return fail(std::move(abi.error()));
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
