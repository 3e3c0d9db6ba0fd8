// `livemod run DIR`: loads every module in DIR into a live_module, then swaps each one as its
// file changes (livemod/watch.h drives it), printing one line per event with the time each
// step took. Also the shared host behind `livemod watch`.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fnmatch.h>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>

#include "commands.h"
#include "live_host.h"
#include "livemod/image.h"
#include "livemod/live.h"
#include "livemod/manifest.h"
#include "livemod/watch.h"

namespace livemod::cli {

namespace {

volatile std::sig_atomic_t interrupted = 0;
extern "C" void on_interrupt(int) { interrupted = 1; }

std::string ms(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(d.count()) / 1e6);
  return buf;
}

class live_host {
 public:
  live_host(output& out, const live_host_options& o) : out_(out), opt_(o) {}

  // Loads (or swaps) the module at `path`: a live_module per file name.
  void offer(const std::filesystem::path& path) {
    std::lock_guard lock(mu_);
    auto it = modules_.find(path.filename().string());
    if (it == modules_.end()) {
      std::string iface = opt_.interface_id;
      if (iface.empty()) {
        auto img = read_image(path);
        if (img && img->manifest_json)
          if (auto m = parse_manifest(*img->manifest_json, path.string()); m && !m->interfaces.empty())
            iface = m->interfaces.front().id;
      }
      if (iface.empty()) {
        print_line("refused", path.filename().string(), "no interface: the file has no manifest "
                   "interface and --interface was not given");
        return;
      }
      live_options lo;
      lo.interface_id = iface;
      lo.on_event = [this](const live_event& e) { report(e); };
      auto m = live_module::create(std::move(lo));
      if (!m) {
        out_.fail(m.error());
        return;
      }
      it = modules_.emplace(path.filename().string(), std::move(*m)).first;
    }
    it->second->request_swap(path, swap_flags{opt_.force});
  }

  void report(const live_event& e) {
    std::lock_guard lock(print_mu_);
    ++events_;
    if (opt_.json) {
      nlohmann::ordered_json j;
      j["event"] = std::string(to_string(e.kind));
      j["step"] = std::string(to_string(e.step));
      j["module"] = e.module;
      j["from"] = e.from_version;
      j["to"] = e.to_version;
      j["path"] = e.path.string();
      if (e.cause) j["cause"] = error_json(*e.cause);
      j["ms"] = {{"stage", ms(e.timings.stage)}, {"preflight", ms(e.timings.preflight)},
                 {"load", ms(e.timings.load)}, {"migrate", ms(e.timings.migrate)},
                 {"publish", ms(e.timings.publish)}, {"grace", ms(e.timings.grace)},
                 {"unload", ms(e.timings.unload)}};
      out_.out() << j.dump() << std::endl;
    } else {
      std::ostringstream line;
      line << e.module << " " << (e.from_version.empty() ? "-" : e.from_version) << " -> "
           << (e.to_version.empty() ? "-" : e.to_version);
      switch (e.kind) {
        case live_event_kind::swapped:
          line << "  stage " << ms(e.timings.stage) << " ms, preflight " << ms(e.timings.preflight)
               << " ms, load " << ms(e.timings.load) << " ms, migrate " << ms(e.timings.migrate)
               << " ms, publish " << ms(e.timings.publish) << " ms";
          break;
        case live_event_kind::unloaded:
          line << "  old image unmapped: grace " << ms(e.timings.grace) << " ms, unload "
               << ms(e.timings.unload) << " ms";
          break;
        default:
          line << "  at " << to_string(e.step);
          break;
      }
      if (e.cause) line << ": " << printable(e.cause->describe());
      out_.out() << out_.paint(to_string(e.kind), e.cause ? tone::red : tone::green) << "  "
                 << line.str() << std::endl;
    }
    cv_.notify_all();
  }

  void print_line(std::string_view kind, const std::string& what, const std::string& why) {
    std::lock_guard lock(print_mu_);
    out_.out() << out_.paint(kind, tone::yellow) << "  " << printable(what) << ": " << why
               << std::endl;
  }

  // Waits for the stop condition.
  void wait() {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(opt_.for_seconds));
    std::unique_lock lock(print_mu_);
    while (!interrupted) {
      if (opt_.until_events > 0 && events_ >= static_cast<std::uint64_t>(opt_.until_events)) break;
      if (opt_.for_seconds > 0 && std::chrono::steady_clock::now() >= deadline) break;
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  void shutdown() {
    std::lock_guard lock(mu_);
    for (auto& [name, m] : modules_) m->wait_idle();
    modules_.clear();
  }

 private:
  output& out_;
  live_host_options opt_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<live_module>> modules_;
  std::mutex print_mu_;
  std::condition_variable cv_;
  std::uint64_t events_ = 0;
};

live_host_options run_opts;

}  // namespace

int run_live_host(output& out, const live_host_options& o, bool load_existing) {
  std::error_code ec;
  if (!std::filesystem::is_directory(o.dir, ec))
    return out.fail(error(errc::file_not_found, o.dir, "is not a directory",
                          "give the directory that holds the modules"));
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  live_host host(out, o);
  if (load_existing) {
    for (const auto& entry : std::filesystem::directory_iterator(o.dir, ec)) {
      std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && fnmatch("lib*.so", name.c_str(), 0) == 0 &&
          !is_temporary_name(name))
        host.offer(entry.path());
    }
  }
  watch_options w;
  w.dirs = {o.dir};
  auto watcher = module_watcher::start(w, [&](const watch_event& e) {
    if (e.kind == watch_event_kind::changed) host.offer(e.path);
    else if (e.problem)
      host.print_line(to_string(e.kind), e.path.filename().string(), printable(e.problem->describe()));
  });
  if (!watcher) return out.fail(watcher.error());
  host.wait();
  watcher->stop();
  host.shutdown();
  return k_exit_ok;
}

void setup_live_host(CLI::App& app, live_host_options& o) {
  app.add_option("dir", o.dir, "Directory of modules (lib*.so)")->required();
  app.add_option("--interface", o.interface_id,
                 "Interface id whose table is published (default: each module's first)");
  app.add_option("--for", o.for_seconds, "Stop after this many seconds (default: until Ctrl-C)");
  app.add_option("--until-events", o.until_events, "Stop after this many swap events");
  app.add_flag("--force", o.force, "Allow downgrades");
  app.add_flag("--json", o.json, "One JSON object per event");
}

void setup_run(CLI::App& app) { setup_live_host(app, run_opts); }
int run_run(output& out) { return run_live_host(out, run_opts, true); }

}  // namespace livemod::cli
