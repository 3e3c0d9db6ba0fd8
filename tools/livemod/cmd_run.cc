// `livemod run DIR`: loads every module in DIR into a live_module, then swaps each one as its
// file changes (livemod/watch.h drives it), printing one line per event with the time each
// step took. Also the shared host behind `livemod watch`. While it runs, it answers `livemod
// rollback DIR` and `livemod status DIR` on DIR's control channel (os/control_channel.h).
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
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "commands.h"
#include "live_host.h"
#include "livemod/image.h"
#include "livemod/live.h"
#include "livemod/manifest.h"
#include "livemod/watch.h"
#include "os/control_channel.h"
#include "os/thread_name.h"

namespace livemod::cli {

namespace {

volatile std::sig_atomic_t interrupted = 0;
extern "C" void on_interrupt(int) { interrupted = 1; }

// Set on the control thread while it runs a rollback request: the event lines that rollback
// produces are also its answer.
thread_local std::vector<std::string>* captured_lines = nullptr;

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) words.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return words;
}

// An answer line for an error: "error E539 no_previous_version: ...". The client prints it as
// its own error.
std::string error_line(const error& e) { return "error " + printable(e.describe()) + "\n"; }

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
    // A requested rollback carries no cause: nothing failed.
    const bool requested = e.kind == live_event_kind::rolled_back && !e.cause;
    const std::optional<error>& cause = e.cause;
    if (opt_.json) {
      nlohmann::ordered_json j;
      j["event"] = std::string(to_string(e.kind));
      j["step"] = std::string(to_string(e.step));
      j["module"] = e.module;
      j["from"] = e.from_version;
      j["to"] = e.to_version;
      j["path"] = e.path.string();
      if (cause) j["cause"] = error_json(*cause);
      if (requested) j["requested"] = true;
      j["ms"] = {{"stage", ms(e.timings.stage)}, {"preflight", ms(e.timings.preflight)},
                 {"load", ms(e.timings.load)}, {"migrate", ms(e.timings.migrate)},
                 {"publish", ms(e.timings.publish)}, {"grace", ms(e.timings.grace)},
                 {"unload", ms(e.timings.unload)}};
      out_.out() << j.dump() << std::endl;
      if (captured_lines) captured_lines->push_back(j.dump());
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
        case live_event_kind::rolled_back:
          if (requested) {
            line << "  on request";
            break;
          }
          [[fallthrough]];
        default:
          line << "  at " << to_string(e.step);
          break;
      }
      if (cause) line << ": " << printable(cause->describe());
      out_.out() << out_.paint(to_string(e.kind), cause ? tone::red : tone::green) << "  "
                 << line.str() << std::endl;
      if (captured_lines)
        captured_lines->push_back(std::string(to_string(e.kind)) + "  " + line.str());
    }
    cv_.notify_all();
  }

  void print_line(std::string_view kind, const std::string& what, const std::string& why) {
    std::lock_guard lock(print_mu_);
    out_.out() << out_.paint(kind, tone::yellow) << "  " << printable(what) << ": " << why
               << std::endl;
  }

  // The answer to one control request (docs/cli.md, "The control channel"): lines of text, an
  // error as a line "error E<code> <name>: <message>".
  std::string answer(std::string_view request) {
    const std::vector<std::string> w = split_words(request);
    if (!w.empty() && w[0] == "rollback" && w.size() <= 2)
      return rollback(w.size() == 2 ? w[1] : "");
    if (w.size() == 1 && w[0] == "status") return status();
    if (w.size() == 1 && w[0] == "quit") {
      quit_ = true;
      cv_.notify_all();
      return "stopping\n";
    }
    std::string shown(request.substr(0, 64));
    if (request.size() > shown.size()) shown += "...";
    std::string why;
    if (w.empty())
      why = "empty request";
    else if (w[0] == "rollback")
      why = "rollback takes at most one MODULE: '" + shown + "'";
    else if (w[0] == "status" || w[0] == "quit")
      why = w[0] + " takes no argument: '" + shown + "'";
    else
      why = "unknown request '" + shown + "'";
    return error_line(error(errc::control_failed, "", why,
                            "send one of: rollback [MODULE], status, quit"));
  }

  // Waits for the stop condition.
  void wait() {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(opt_.for_seconds));
    std::unique_lock lock(print_mu_);
    while (!interrupted && !quit_) {
      if (opt_.until_events > 0 && events_ >= static_cast<std::uint64_t>(opt_.until_events)) break;
      if (opt_.for_seconds > 0 && std::chrono::steady_clock::now() >= deadline) break;
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  // The module a request names: by manifest name or file name; none named: the only one.
  result<live_module*> find(const std::string& name) {
    std::lock_guard lock(mu_);
    std::string hosted;
    for (const auto& [file, m] : modules_) {
      const std::string module = m->module_name();
      if (!name.empty() && (file == name || file == "lib" + name + ".so" || module == name))
        return m.get();
      hosted += (hosted.empty() ? "" : ", ") + (module.empty() ? file : module);
    }
    if (!name.empty())
      return fail(errc::module_not_found, name,
                  "no module of that name is hosted" +
                      (hosted.empty() ? std::string(" (none is)") : " (hosted: " + hosted + ")"),
                  "name a hosted module, by its manifest name or its file name");
    if (modules_.empty())
      return fail(errc::no_version_loaded, opt_.dir, "no module is hosted yet",
                  "write a module into the directory");
    if (modules_.size() > 1)
      return fail(errc::module_not_found, opt_.dir,
                  std::to_string(modules_.size()) + " modules are hosted (" + hosted + ")",
                  "name the one to roll back");
    return modules_.begin()->second.get();
  }

  std::string rollback(const std::string& name) {
    auto m = find(name);
    if (!m) return error_line(m.error());
    // Modules are only destroyed by shutdown(), after the control thread has ended.
    std::vector<std::string> lines;
    struct capture {
      explicit capture(std::vector<std::string>* to) { captured_lines = to; }
      ~capture() { captured_lines = nullptr; }
      capture(const capture&) = delete;
      capture& operator=(const capture&) = delete;
    };
    result<void> r;
    {
      capture c(&lines);
      r = (*m)->rollback();
    }
    if (!r) return error_line(r.error());
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    return text;
  }

  std::string status() {
    std::vector<std::pair<std::string, live_module*>> hosted;
    {
      std::lock_guard lock(mu_);
      for (const auto& [file, m] : modules_) hosted.emplace_back(file, m.get());
    }
    if (hosted.empty()) return "no module is hosted yet\n";
    std::vector<std::vector<std::string>> rows{
        {"module", "version", "file", "kept for rollback", "swaps", "refused", "rollbacks"}};
    for (const auto& [file, m] : hosted) {
      std::string kept;
      for (const std::string& v : m->history_versions()) kept += (kept.empty() ? "" : ", ") + v;
      const live_stats st = m->stats();
      const std::string name = m->module_name(), version = m->current_version();
      rows.push_back({name.empty() ? "-" : printable(name), version.empty() ? "-" : version,
                      printable(file), kept.empty() ? "-" : kept, std::to_string(st.swaps),
                      std::to_string(st.refused), std::to_string(st.rollbacks)});
    }
    std::ostringstream text;
    print_columns(text, rows);
    return text.str();
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
  std::atomic<bool> quit_{false};  // a `quit` request
};

// The control thread: answers requests until the host stops.
void serve_control(os::control_server& server, live_host& host, const std::atomic<bool>& stopping) {
  try {
    for (;;) {
      auto r = server.next(std::chrono::milliseconds(-1));
      if (!r) {
        host.print_line("warning", "control channel", printable(r.error().describe()));
        return;
      }
      if (!*r) {
        if (stopping.load()) return;
        continue;  // a signal interrupted the wait
      }
      os::control_request& request = **r;
      (void)request.reply(request.problem() ? error_line(*request.problem())
                                            : host.answer(request.line()));
    }
  } catch (const std::exception& e) {
    host.print_line("warning", "control channel", std::string("stopped: ") + e.what());
  }
}

live_host_options run_opts;

}  // namespace

int run_live_host(output& out, const live_host_options& o, bool load_existing) {
  std::error_code ec;
  if (!std::filesystem::is_directory(o.dir, ec))
    return out.fail(error(errc::file_not_found, o.dir, "is not a directory",
                          "give the directory that holds the modules"));
  // Before anything loads: a second host for the same directory stops here.
  std::unique_ptr<os::control_server> control;
  if (!o.no_control) {
    auto server = os::control_server::open(o.dir);
    if (!server) return out.fail(server.error());
    control = std::move(*server);
  }
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
  // Started once the watcher runs: a host that answers is watching (tests rely on it).
  std::atomic<bool> stopping{false};
  std::thread control_thread;
  if (control) {
    control_thread = std::thread([&] { serve_control(*control, host, stopping); });
    os::name_thread(control_thread, "livemod-control");
  }
  host.wait();
  if (control) {
    stopping = true;
    control->stop();
    control_thread.join();
  }
  watcher->stop();
  host.shutdown();
  control.reset();  // the socket and the lock go last: no second host while modules unload
  return k_exit_ok;
}

void setup_live_host(CLI::App& app, live_host_options& o) {
  app.add_option("DIR", o.dir, "Directory of modules (lib*.so)")->required()->type_name("");
  app.add_option("--interface", o.interface_id,
                 "Interface id whose table is published (default: each module's first)");
  app.add_option("--for", o.for_seconds, "Stop after this many seconds (default: until Ctrl-C)");
  app.add_option("--until-events", o.until_events, "Stop after this many swap events");
  app.add_flag("--force", o.force, "Allow downgrades");
  app.add_flag("--json", o.json, "One JSON object per event");
  app.add_flag("--no-control", o.no_control,
               "Do not open DIR's control channel (`livemod rollback` and `status` will not reach "
               "this host)");
}

void setup_run(CLI::App& app) { setup_live_host(app, run_opts); }
int run_run(output& out) { return run_live_host(out, run_opts, true); }

}  // namespace livemod::cli
