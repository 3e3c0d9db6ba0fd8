// The os layer's "watch" primitive: raw events about the names in a few directories, from the
// native backend (inotify on Linux: src/os/linux/inotify_watch.cc) or from a portable polling
// backend that compares stat(2) results (src/os/poll_watch.cc). Raw events are facts about names,
// not decisions: coalescing, debouncing and checking that a file is complete belong to the live
// layer's module_watcher (livemod/watch.h).
//
//   auto w = livemod::os::open_native_file_watcher();              // or open_polling_file_watcher
//   if (!w || !(*w)->add_dir("/srv/modules")) { /* fall back to polling */ }
//   std::vector<livemod::os::file_event> events;
//   (*w)->wait(std::chrono::milliseconds(-1), events);             // blocks until something happens
//   for (const auto& e : events) std::cout << e.name << "\n";
//
// Also here, the few file calls a watcher needs: stat as an identity, listing a directory, and a
// read-only file for small pread()s (never a mapping: a file truncated while we read it must
// give a short read, not SIGBUS).
//
// Lifetime and threads: a file_watcher is used by one thread (add_dir, wait); wake() may be
// called from any thread at any time, including while another thread is inside wait(). The
// native_watch_api seam is process-wide: override it only while no watcher is being opened.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "livemod/error.h"

namespace livemod::os {

// What stat(2) says about a file, with every field that changes when the file is rewritten or
// replaced. Nanosecond times and the inode tell apart two versions written within one second;
// ctime also moves on a rename over the name and on writes that restore mtime (utimensat).
struct file_identity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool regular = false;  // S_ISREG

  friend bool operator==(const file_identity&, const file_identity&) = default;
};

// stat(2), following symlinks. Errors: file_not_found (also a dangling symlink),
// permission_denied, io_error; the OS text is kept.
result<file_identity> stat_identity(const std::filesystem::path& path);

// The names in `dir` except "." and "..", in directory order. Errors: file_not_found,
// permission_denied, not_a_regular_file (not a directory), io_error.
result<std::vector<std::string>> list_dir(const std::filesystem::path& dir);

// A file opened read-only (O_NONBLOCK, so a FIFO never blocks the open) for a few small reads.
// Move-only; closes its descriptor when destroyed.
class read_only_file {
 public:
  // Errors: file_not_found, permission_denied, io_error.
  static result<read_only_file> open(const std::filesystem::path& path);

  read_only_file(read_only_file&& other) noexcept;
  read_only_file& operator=(read_only_file&& other) noexcept;
  read_only_file(const read_only_file&) = delete;
  read_only_file& operator=(const read_only_file&) = delete;
  ~read_only_file();

  // fstat(2) of the open file. Errors: io_error.
  result<file_identity> identity() const;
  // Reads up to out.size() bytes at `offset`; fewer (maybe 0) at the end of the file.
  // Errors: io_error.
  result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) const;

 private:
  explicit read_only_file(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

enum class file_event_kind : std::uint8_t {
  written,   // a file open for writing was closed (IN_CLOSE_WRITE): that writer is done
  moved_in,  // a name was renamed into the directory (IN_MOVED_TO), e.g. an atomic replace
  created,   // a name appeared (IN_CREATE): its writer may still be writing, or it is a link
  changed,   // (polling) a new file, or a different one, is at the name; it may be mid-write
  removed,   // the name was unlinked or renamed away (IN_DELETE, IN_MOVED_FROM)
  overflow,  // events were lost (IN_Q_OVERFLOW): rescan `dir`, or every directory if it is empty
  dir_gone,  // the watched directory itself was removed or unmounted and is no longer watched
};

std::string_view to_string(file_event_kind kind) noexcept;

struct file_event {
  file_event_kind kind = file_event_kind::changed;
  std::filesystem::path dir;  // as given to add_dir
  std::string name;           // a name in `dir`; empty for overflow and dir_gone
};

// A backend. Subdirectories and their contents are not watched: only names directly in `dir`.
class file_watcher {
 public:
  file_watcher() = default;
  file_watcher(const file_watcher&) = delete;
  file_watcher& operator=(const file_watcher&) = delete;
  virtual ~file_watcher() = default;

  // "inotify" or "polling".
  virtual std::string_view backend() const noexcept = 0;

  // Starts watching the names in `dir`. Events are reported only for changes after this call.
  // Errors: watch_failed (no such directory, not a directory, no permission, the system's watch
  // limit reached); the OS text is kept.
  virtual result<void> add_dir(const std::filesystem::path& dir) = 0;

  // Waits until events arrive, `timeout` passes (negative: no limit) or wake() is called, and
  // appends the events to `out` in the order they happened (maybe none). Errors: watch_failed
  // (the backend cannot read events any more).
  virtual result<void> wait(std::chrono::milliseconds timeout, std::vector<file_event>& out) = 0;

  // Makes the current wait() return at once, or the next one if none is running. Thread-safe.
  virtual void wake() noexcept = 0;
};

// The platform's event-driven backend (inotify). Errors: watch_failed when it is unavailable
// (inotify_init1 failed: no kernel support, the per-user instance limit, out of descriptors).
result<std::unique_ptr<file_watcher>> open_native_file_watcher();

// The portable backend: every `interval` (at least 1 ms), each directory is listed and each name
// stat'ed, and a name whose file_identity differs from the last scan is reported `changed`.
// It reports regular files (and links to them) only. It cannot tell apart two same-size rewrites
// of one inode that land within one tick of the kernel's file-time clock (a few ms) with mtime
// unchanged; a rename always differs by inode.
std::unique_ptr<file_watcher> open_polling_file_watcher(std::chrono::milliseconds interval);

// The seam for tests: the calls the native backend makes to start, as function pointers, so a
// test can make inotify unavailable and see the fallback ({fmt}'s posix mock does the same).
struct native_watch_api {
  int (*init)(int flags);                                          // inotify_init1
  int (*add_watch)(int fd, const char* path, std::uint32_t mask);  // inotify_add_watch
};

// The table in use: the system's calls unless a test has overridden them.
const native_watch_api& current_native_watch_api() noexcept;

// Replaces the table for its lifetime and restores the previous one after. Overrides nest.
// Tests only; a failing fake must set errno.
class scoped_native_watch_api_override {
 public:
  explicit scoped_native_watch_api_override(const native_watch_api& replacement) noexcept;
  ~scoped_native_watch_api_override();
  scoped_native_watch_api_override(const scoped_native_watch_api_override&) = delete;
  scoped_native_watch_api_override& operator=(const scoped_native_watch_api_override&) = delete;

 private:
  native_watch_api previous_;
};

}  // namespace livemod::os
