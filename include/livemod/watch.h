// File: livemod/watch.h
//
// Watching module directories: a module_watcher tells its consumer (the hot-swap engine, the
// CLI) when a module file has a new, complete version, or has gone. It turns the raw file events
// of the os layer (inotify, or polling when inotify is unavailable) into at most one event per
// file at a time: editors' temporary files are ignored, bursts are coalesced so the last state
// wins and none is lost, and a half-written or truncated file is never reported as changed.
//
//   livemod::watch_options options;
//   options.dirs = {"/srv/modules"};
//   auto watcher = livemod::module_watcher::start(options, [](const livemod::watch_event& e) {
//     if (e.kind == livemod::watch_event_kind::changed) engine.swap_to(e.path);
//   });
//   if (!watcher) return fail(watcher.error());   // watch_failed
//   // ... events arrive on the watcher's thread until watcher->stop() or destruction
//
// Delivery rules (docs/watching.md has the reasons):
// - `changed` is delivered only for a regular file that is complete: it is an ELF file whose
//   program and section header tables fit inside it, and its size and times did not move while
//   it was checked. Until then it is re-checked with backoff for `retry_window`; after that the
//   consumer gets `incomplete`, with the reason in `problem`.
// - After a write's close or a rename into the directory, a complete file is delivered at once
//   when `debounce` is 0. A name that merely appears (a hard link, a writer that has not closed
//   yet), a polling scan, or a rescan after lost events must also look the same on two checks
//   `settle` apart.
// - Events for one path that arrive within `debounce` of the first, or while the callback is
//   busy, merge into one: the state at delivery time wins, and the final state of a path is
//   always delivered. So delete + create arrives as `removed` then `changed`, or as one
//   `changed` when both land in one window.
// - Two versions written within the same second are two events: nothing is keyed on seconds.
//
// Lifetime and threads: start() returns a running watcher with one thread of its own; the
// callback runs on that thread, one call at a time, never concurrently with itself. stop() (and
// the destructor) returns after the thread has ended, promptly unless a callback is running: it
// waits for that call to return. stop() may be called from any thread, the callback included
// (then it only asks, and returns at once); the watcher must not be destroyed from its own
// callback. backend(), fallback_reason() and stats() may be called from any thread. An exception
// thrown by the callback is caught and counted, and the watcher carries on.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "livemod/error.h"

namespace livemod {

enum class watch_event_kind : std::uint8_t {
  changed,     // a complete new version is at `path`
  removed,     // `path` is gone (deleted or renamed away); what is loaded can keep serving
  incomplete,  // `path` changed but stayed incomplete for the retry window; see `problem`
  watch_lost,  // the directory `path` is no longer watched (removed, unmounted, read failure)
};

// "changed", "removed", "incomplete", "watch_lost".
std::string_view to_string(watch_event_kind kind) noexcept;

// Which file a `changed` event saw, so a consumer can tell whether the file it then opens is
// still that one (device + inode is also the registry's load-once identity).
struct file_stamp {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // since the epoch
  std::int64_t ctime_ns = 0;

  friend bool operator==(const file_stamp&, const file_stamp&) = default;
};

struct watch_event {
  std::filesystem::path path;  // dir / name; for watch_lost, the directory
  watch_event_kind kind = watch_event_kind::changed;
  // 1, 2, 3 ... for each event delivered for this path (watch_lost: for the directory). Gaps
  // never happen; a consumer that sees generation g has seen every earlier one.
  std::uint64_t generation = 0;
  // When the watcher read the newest raw event merged into this one: the moment the state now
  // delivered was first known. Swap latency is measured from here.
  std::chrono::steady_clock::time_point observed_at;
  // Raw events (closes, renames, creates, deletes, scan differences) merged into this one.
  std::uint32_t merged = 0;
  file_stamp stamp;               // changed: the file as checked; otherwise zero
  std::optional<error> problem;   // incomplete: file_incomplete; watch_lost: watch_failed
};

struct watch_options {
  std::vector<std::filesystem::path> dirs;       // directories whose names are watched (not subdirs)
  std::vector<std::string> patterns{"lib*.so"};  // fnmatch(3) globs on the file name; any may match
  // How long after the first raw event for a path its later events are merged before delivery.
  // 0: deliver as soon as the file is complete.
  std::chrono::milliseconds debounce{0};
  // How long a changed file may stay incomplete (re-checked with backoff) before `incomplete`.
  std::chrono::milliseconds retry_window{2000};
  // The gap between the two matching checks a file needs when no close or rename vouches for it.
  std::chrono::milliseconds settle{20};
  // The polling backend's scan interval.
  std::chrono::milliseconds poll_interval{100};
  // Poll even where inotify is available (network file systems, tests).
  bool force_polling = false;
};

struct watch_stats {
  std::uint64_t raw_events = 0;         // raw events read that matched the patterns
  std::uint64_t checks = 0;             // completeness checks made
  std::uint64_t failed_checks = 0;      // checks that found a file incomplete
  std::uint64_t delivered = 0;          // events given to the callback
  std::uint64_t rescans = 0;            // full rescans after lost events
  std::uint64_t callback_exceptions = 0;
};

class module_watcher {
 public:
  using callback = std::function<void(const watch_event&)>;

  // Watches `options.dirs` and calls `on_event` for each event, on the watcher's own thread.
  // Files already there are not reported. If inotify is unavailable (or out of watches) it polls
  // instead, and says why in fallback_reason(). Errors: watch_failed (no directory given, one is
  // missing or unreadable, no callback, or the thread cannot start).
  static result<module_watcher> start(watch_options options, callback on_event);

  module_watcher(module_watcher&&) noexcept;
  module_watcher& operator=(module_watcher&&) noexcept;
  module_watcher(const module_watcher&) = delete;
  module_watcher& operator=(const module_watcher&) = delete;
  ~module_watcher();

  // Ends the thread; no callback starts after it returns. Idempotent.
  void stop() noexcept;

  // "inotify" or "polling".
  std::string_view backend() const noexcept;
  // Why inotify is not used when it was wanted (watch_failed with the OS text); empty when the
  // backend is the one asked for.
  const std::optional<error>& fallback_reason() const noexcept;
  // Counters so far (each read atomically; not a consistent snapshot across fields).
  watch_stats stats() const noexcept;

 private:
  struct impl;
  explicit module_watcher(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

// The check a `changed` event has passed, for a consumer to repeat on what it did with the file
// (a staged copy): a regular, non-empty ELF file whose program and section header tables end
// inside it, unchanged between two fstat calls. Reads 64 bytes with pread; never maps or loads.
// Errors: file_not_found, file_incomplete (the cause says what is missing).
result<file_stamp> check_complete(const std::filesystem::path& path);

// True for names editors and build tools write before the real file, which are never reported:
// dotfiles (".#x", ".x.swp", ".nfs..."), "x~", "#x#", "4913" (vim's probe), and names ending in
// ".swp", ".swo", ".swx", ".tmp", ".temp", ".part", ".partial", ".bak", ".orig", or carrying such
// a suffix before a random tail ("libfoo.so.tmp.123", "libfoo.so.tmp-x7Yq").
bool is_temporary_name(std::string_view name) noexcept;

}  // namespace livemod
