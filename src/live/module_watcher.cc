// module_watcher (livemod/watch.h): raw file events in, at most one decided event per path out.
//
// One thread does everything: it waits on the backend (inotify or polling) with a timeout set by
// the earliest pending deadline, folds each raw event into its path's pending entry, and runs
// the entries that are due: a completeness check, then the callback. Because the callback runs
// on this same thread, a slow consumer coalesces by construction: while it works, new raw events
// queue in the kernel (or pile up between scans) and are read as one batch afterwards, so each
// path gets one event with its newest state. Nothing is dropped to get there: a pending entry
// only ever changes its state, and every entry ends in a delivery (or, for a file that vanished
// before it could be checked, in the removal event that follows).
#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "livemod/watch.h"
#include "os/file_events.h"
#include "os/thread_name.h"

namespace livemod {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Re-checks of an incomplete file start soon (a compiler's second write usually follows within
// a few ms) and back off so a file that stays broken costs a handful of checks per second.
constexpr clock::duration k_first_backoff = milliseconds(5);
constexpr clock::duration k_max_backoff = milliseconds(200);

// ---- completeness -------------------------------------------------------------------------

error incomplete(const fs::path& path, std::string cause) {
  return error(errc::file_incomplete, path.string(), std::move(cause),
               "finish writing the file, or write it elsewhere and rename it into place");
}

// An unsigned field of the ELF header in the file's own byte order.
std::uint64_t field(std::span<const std::byte> bytes, std::size_t offset, std::size_t width,
                    bool big_endian) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const std::size_t at = big_endian ? offset + i : offset + width - 1 - i;
    value = (value << 8) | std::to_integer<std::uint64_t>(bytes[at]);
  }
  return value;
}

// The checks that tell a finished shared object from one still being written, without loading
// or mapping it: pread of the 52/64-byte ELF header (and, with extended numbering, of section
// header 0), fstat before and after. Linkers write the section header table last, at the end of
// the file, so "the tables fit" is a strong sign the writer got to the end.
// Errors: file_not_found (the name is gone: its removal event follows), file_incomplete.
result<os::file_identity> check_file(const fs::path& path) {
  auto file = os::read_only_file::open(path);
  if (!file) {
    if (file.error().code() == errc::file_not_found) return fail(file.error());
    return fail(incomplete(path, "cannot open the file: " + file.error().cause()));
  }
  auto before = file->identity();
  if (!before) return fail(incomplete(path, before.error().cause()));
  if (!before->regular) return fail(incomplete(path, "not a regular file"));
  const std::uint64_t size = before->size;
  if (size == 0) return fail(incomplete(path, "the file is empty"));

  std::array<std::byte, 64> header{};
  auto got = file->read_at(0, header);
  if (!got) return fail(incomplete(path, got.error().cause()));
  const std::size_t n = *got;
  static constexpr std::array<unsigned char, 4> k_magic{0x7f, 'E', 'L', 'F'};
  for (std::size_t i = 0; i < k_magic.size(); ++i) {
    if (i >= n || std::to_integer<unsigned char>(header[i]) != k_magic[i]) {
      return fail(incomplete(path, "not an ELF file (yet): " + std::to_string(size) + " bytes"));
    }
  }
  if (n < 6) return fail(incomplete(path, "truncated ELF header: " + std::to_string(n) + " bytes"));
  const auto elf_class = std::to_integer<unsigned>(header[4]);
  const auto encoding = std::to_integer<unsigned>(header[5]);
  if (elf_class != 1 && elf_class != 2) {
    return fail(incomplete(path, "unknown ELF class " + std::to_string(elf_class)));
  }
  if (encoding != 1 && encoding != 2) {
    return fail(incomplete(path, "unknown ELF byte order " + std::to_string(encoding)));
  }
  const bool is64 = elf_class == 2;
  const bool be = encoding == 2;
  const std::size_t header_size = is64 ? 64 : 52;
  if (n < header_size) {
    return fail(incomplete(path, "truncated ELF header: " + std::to_string(n) + " of " +
                                     std::to_string(header_size) + " bytes"));
  }
  const std::span<const std::byte> h(header);
  const std::size_t word = is64 ? 8 : 4;
  const std::uint64_t phoff = field(h, is64 ? 32 : 28, word, be);
  const std::uint64_t shoff = field(h, is64 ? 40 : 32, word, be);
  const std::uint64_t phentsize = field(h, is64 ? 54 : 42, 2, be);
  const std::uint64_t phnum = field(h, is64 ? 56 : 44, 2, be);
  const std::uint64_t shentsize = field(h, is64 ? 58 : 46, 2, be);
  std::uint64_t shnum = field(h, is64 ? 60 : 48, 2, be);

  // Each table must end inside the file; the 16-bit counts and sizes cannot overflow 64 bits,
  // and an offset past the end is caught before it is added to anything.
  const auto too_short = [&](const char* what, std::uint64_t end) {
    return incomplete(path, std::string("truncated: the ") + what + " ends at byte " +
                                std::to_string(end) + " but the file has " + std::to_string(size) +
                                " bytes");
  };
  if (phnum != 0) {
    if (phoff > size || phnum * phentsize > size - phoff) {
      return fail(too_short("program header table", phoff + phnum * phentsize));
    }
  }
  if (shoff != 0) {
    if (shoff > size || shentsize > size - shoff) {
      return fail(too_short("section header table", shoff + shentsize));
    }
    if (shnum == 0) {
      // Extended numbering: the real count is section 0's sh_size.
      std::array<std::byte, 8> count{};
      const std::span<std::byte> want(count.data(), word);
      auto read = file->read_at(shoff + (is64 ? 32 : 20), want);
      if (!read || *read != word) return fail(too_short("section header table", shoff + shentsize));
      shnum = field(std::span<const std::byte>(count), 0, word, be);
    }
    if (shentsize == 0 && shnum != 0) {
      return fail(incomplete(path, "section header entries of size 0"));
    }
    if (shentsize != 0 && shnum > (size - shoff) / shentsize) {
      const std::uint64_t end =
          shnum > std::numeric_limits<std::uint64_t>::max() / shentsize
              ? std::numeric_limits<std::uint64_t>::max()
              : shoff + shnum * shentsize;
      return fail(too_short("section header table", end));
    }
  }

  // "Size stable across a re-check": a writer still at work moves size or times between the
  // two fstat calls (or between a poll's stat and ours, which the settle check catches).
  auto after = file->identity();
  if (!after) return fail(incomplete(path, after.error().cause()));
  if (!(*after == *before)) return fail(incomplete(path, "the file changed while it was checked"));
  return *after;
}

file_stamp stamp_of(const os::file_identity& id) {
  return {id.device, id.inode, id.size, id.mtime_ns, id.ctime_ns};
}

// Kept in suffix order of how often they turn up: vim, emacs, then generic tools.
constexpr std::array<std::string_view, 10> k_temp_suffixes{
    ".swp", ".swo", ".swx", ".tmp", ".temp", ".part", ".partial", ".bak", ".orig", ".crdownload"};

}  // namespace

// ---- public helpers ---------------------------------------------------------------------

std::string_view to_string(watch_event_kind kind) noexcept {
  switch (kind) {
    case watch_event_kind::changed: return "changed";
    case watch_event_kind::removed: return "removed";
    case watch_event_kind::incomplete: return "incomplete";
    case watch_event_kind::watch_lost: return "watch_lost";
  }
  return "unknown";
}

result<file_stamp> check_complete(const std::filesystem::path& path) {
  auto checked = check_file(path);
  if (!checked) return fail(std::move(checked.error()));
  return stamp_of(*checked);
}

bool is_temporary_name(std::string_view name) noexcept {
  if (name.empty() || name.front() == '.') return true;  // dotfiles: .#lock, .x.swp, .nfs1234
  if (name.back() == '~') return true;                   // emacs, vim backups
  if (name.front() == '#' && name.back() == '#') return true;  // emacs autosave
  if (name == "4913") return true;  // vim probes whether it may create files in the directory
  for (std::string_view suffix : k_temp_suffixes) {
    if (name.ends_with(suffix)) return true;
    // "libfoo.so.tmp.1234", "libfoo.tmp-x7Yq.so": the marker followed by a random tail.
    for (std::size_t at = name.find(suffix); at != std::string_view::npos;
         at = name.find(suffix, at + 1)) {
      const std::size_t next = at + suffix.size();
      if (next < name.size() && (name[next] == '.' || name[next] == '-' || name[next] == '_')) {
        return true;
      }
    }
  }
  return false;
}

// ---- the watcher ----------------------------------------------------------------------------

struct module_watcher::impl {
  // What a path is waiting for. `check` covers every "something new may be here" raw event;
  // which of them vouched that the writer is done decides whether one check is enough.
  enum class want : std::uint8_t { check, removed, lost };

  struct pending {
    fs::path path;
    fs::path dir;
    want state = want::check;
    bool vouched = false;  // a close or rename said the writer is done; no settle needed
    clock::time_point window_end;  // the first raw event + debounce
    clock::time_point due;
    clock::time_point give_up;
    clock::duration backoff = k_first_backoff;
    std::optional<os::file_identity> settling;  // the first of two matching observations
    std::optional<error> problem;
    clock::time_point observed_at;
    std::uint32_t merged = 0;
    std::uint64_t order = 0;
  };

  struct known_file {
    fs::path dir;
    os::file_identity id;
    bool vouched = false;  // delivered after a close or rename, rather than after settling
  };

  impl(watch_options o, callback cb) : options(std::move(o)), on_event(std::move(cb)) {}

  bool wanted(std::string_view name) const {
    if (is_temporary_name(name)) return false;
    const std::string n(name);
    return std::any_of(options.patterns.begin(), options.patterns.end(), [&](const std::string& p) {
      return ::fnmatch(p.c_str(), n.c_str(), 0) == 0;
    });
  }

  // Every wanted regular file in `dir` as it is now; errors leave it out (the next event or
  // rescan catches up).
  std::vector<std::pair<std::string, os::file_identity>> snapshot(const fs::path& dir) const {
    std::vector<std::pair<std::string, os::file_identity>> out;
    auto names = os::list_dir(dir);
    if (!names) return out;
    for (const std::string& name : *names) {
      if (!wanted(name)) continue;
      auto id = os::stat_identity(dir / name);
      if (id && id->regular) out.emplace_back((dir / name).string(), *id);
    }
    return out;
  }

  pending& touch(const std::string& key, const fs::path& dir, clock::time_point now) {
    auto [it, fresh] = pending_.try_emplace(key);
    pending& p = it->second;
    if (fresh) {
      p.path = key;
      p.dir = dir;
      p.window_end = now + options.debounce;
    }
    p.observed_at = now;
    ++p.merged;
    p.order = ++order_;
    return p;
  }

  void want_check(pending& p, bool vouched, clock::time_point now) {
    p.state = want::check;
    p.vouched = vouched;
    p.settling.reset();
    p.problem.reset();
    p.backoff = k_first_backoff;
    p.give_up = now + options.retry_window;
    p.due = p.window_end;
  }

  void apply(const os::file_event& e, clock::time_point now) {
    using kind = os::file_event_kind;
    if (e.kind == kind::overflow) {
      rescan(e.dir, now);
      return;
    }
    if (e.kind == kind::dir_gone) {
      pending& p = touch(e.dir.string(), e.dir, now);
      p.state = want::lost;
      p.problem = error(errc::watch_failed, e.dir.string(),
                        "the directory was removed or unmounted and is no longer watched",
                        "recreate it and restart watching");
      p.due = now;
      return;
    }
    if (!wanted(e.name)) return;
    stats_raw_events.fetch_add(1, std::memory_order_relaxed);
    pending& p = touch((e.dir / e.name).string(), e.dir, now);
    switch (e.kind) {
      case kind::written:
      case kind::moved_in:
        want_check(p, true, now);
        break;
      case kind::created:
      case kind::changed:
        want_check(p, false, now);
        break;
      case kind::removed:
        p.state = want::removed;
        p.vouched = false;
        p.settling.reset();
        p.due = p.window_end;
        break;
      case kind::overflow:
      case kind::dir_gone:
        break;
    }
  }

  // After lost events: whatever differs from what was last delivered is new again.
  void rescan(const fs::path& only, clock::time_point now) {
    stats_rescans.fetch_add(1, std::memory_order_relaxed);
    for (const fs::path& dir : options.dirs) {
      if (!only.empty() && dir != only) continue;
      const auto files = snapshot(dir);
      for (const auto& [key, id] : files) {
        auto k = known_.find(key);
        if (k != known_.end() && k->second.id == id) continue;
        want_check(touch(key, dir, now), false, now);
      }
      for (const auto& [key, file] : known_) {
        if (file.dir != dir) continue;
        const bool present = std::any_of(files.begin(), files.end(),
                                         [&](const auto& f) { return f.first == key; });
        if (!present) {
          pending& p = touch(key, dir, now);
          p.state = want::removed;
          p.due = p.window_end;
        }
      }
    }
  }

  milliseconds next_timeout() const {
    if (pending_.empty()) return milliseconds(-1);
    clock::time_point first = clock::time_point::max();
    for (const auto& [key, p] : pending_) first = std::min(first, p.due);
    const clock::time_point now = clock::now();
    if (first <= now) return milliseconds(0);
    // Rounded up: waking a little late is harmless, waking early spins.
    return std::chrono::ceil<milliseconds>(first - now);
  }

  void run_due() {
    std::vector<std::pair<std::uint64_t, std::string>> due;
    const clock::time_point now = clock::now();
    for (const auto& [key, p] : pending_) {
      if (p.due <= now) due.emplace_back(p.order, key);
    }
    std::sort(due.begin(), due.end());
    for (const auto& [order, key] : due) {
      if (stopping.load(std::memory_order_acquire)) return;
      auto it = pending_.find(key);
      if (it != pending_.end()) step(it);
    }
  }

  void step(std::unordered_map<std::string, pending>::iterator it) {
    pending& p = it->second;
    if (p.state == want::removed) {
      known_.erase(it->first);
      deliver(it, watch_event_kind::removed, {});
      return;
    }
    if (p.state == want::lost) {
      for (auto k = known_.begin(); k != known_.end();) {
        k = k->second.dir == p.dir ? known_.erase(k) : std::next(k);
      }
      deliver(it, watch_event_kind::watch_lost, {});
      return;
    }

    stats_checks.fetch_add(1, std::memory_order_relaxed);
    auto checked = check_file(p.path);
    const clock::time_point now = clock::now();
    if (!checked) {
      if (checked.error().code() == errc::file_not_found) {
        pending_.erase(it);  // its removal is already queued behind this
        return;
      }
      stats_failed_checks.fetch_add(1, std::memory_order_relaxed);
      p.problem = std::move(checked.error());
      // The writer's close came too early (or there was none): whatever finishes the file may
      // do it without another close, so from here on two matching checks are required.
      p.vouched = false;
      p.settling.reset();
      if (now >= p.give_up) {
        deliver(it, watch_event_kind::incomplete, {});
        return;
      }
      p.due = std::min(now + p.backoff, p.give_up);
      p.backoff = std::min(p.backoff * 2, k_max_backoff);
      return;
    }
    const os::file_identity id = *checked;
    if (!p.vouched && options.settle.count() > 0 && !(p.settling && *p.settling == id)) {
      if (now >= p.give_up) {
        p.problem = incomplete(p.path, "the file kept changing for " +
                                           std::to_string(options.retry_window.count()) + " ms");
        deliver(it, watch_event_kind::incomplete, {});
        return;
      }
      p.settling = id;
      p.due = now + options.settle;
      return;
    }
    // Nothing new to say: a rescan or scan found what was delivered, or a writer closed a file
    // already delivered once it had settled. A vouched event after a vouched delivery is never
    // dropped, however equal the stamps: two same-size writes within one tick of the kernel's
    // file clock have equal stamps and different bytes.
    auto k = known_.find(it->first);
    if (k != known_.end() && k->second.id == id && (!p.vouched || !k->second.vouched)) {
      pending_.erase(it);
      return;
    }
    known_.insert_or_assign(it->first, known_file{p.dir, id, p.vouched});
    deliver(it, watch_event_kind::changed, stamp_of(id));
  }

  void deliver(std::unordered_map<std::string, pending>::iterator it, watch_event_kind kind,
               file_stamp stamp) {
    watch_event e;
    e.path = std::move(it->second.path);
    e.kind = kind;
    e.generation = ++generations_[it->first];
    e.observed_at = it->second.observed_at;
    e.merged = it->second.merged;
    e.stamp = stamp;
    if (kind == watch_event_kind::incomplete || kind == watch_event_kind::watch_lost) {
      e.problem = std::move(it->second.problem);
    }
    pending_.erase(it);
    stats_delivered.fetch_add(1, std::memory_order_relaxed);
    try {
      on_event(e);
    } catch (...) {
      stats_callback_exceptions.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void run() noexcept {
    thread_id.store(std::this_thread::get_id(), std::memory_order_release);
    std::vector<os::file_event> raw;
    while (!stopping.load(std::memory_order_acquire)) {
      try {
        raw.clear();
        auto waited = backend->wait(next_timeout(), raw);
        if (stopping.load(std::memory_order_acquire)) break;
        if (!waited) {
          // The backend cannot report any more: say so for every directory and end.
          const clock::time_point now = clock::now();
          for (const fs::path& dir : options.dirs) {
            pending& p = touch(dir.string(), dir, now);
            p.state = want::lost;
            p.problem = waited.error();
            p.due = now;
          }
          run_due();
          break;
        }
        const clock::time_point now = clock::now();
        for (const os::file_event& e : raw) apply(e, now);
        run_due();
      } catch (...) {
        // Only allocation can throw here; drop this round's raw events, keep the pending ones.
      }
    }
  }

  watch_options options;
  callback on_event;
  std::unique_ptr<os::file_watcher> backend;
  std::optional<error> fallback_reason;
  std::atomic<bool> stopping{false};
  std::atomic<std::thread::id> thread_id{};
  std::mutex join_mutex;  // two threads calling stop() at once must not both join
  std::thread thread;

  std::atomic<std::uint64_t> stats_raw_events{0};
  std::atomic<std::uint64_t> stats_checks{0};
  std::atomic<std::uint64_t> stats_failed_checks{0};
  std::atomic<std::uint64_t> stats_delivered{0};
  std::atomic<std::uint64_t> stats_rescans{0};
  std::atomic<std::uint64_t> stats_callback_exceptions{0};

  // Owned by the watcher's thread once it runs (start() fills known_ before).
  std::unordered_map<std::string, pending> pending_;
  std::unordered_map<std::string, known_file> known_;
  std::unordered_map<std::string, std::uint64_t> generations_;
  std::uint64_t order_ = 0;
};

namespace {

result<void> add_all(os::file_watcher& w, const std::vector<fs::path>& dirs) {
  for (const fs::path& dir : dirs) {
    auto added = w.add_dir(dir);
    if (!added) return added;
  }
  return {};
}

}  // namespace

result<module_watcher> module_watcher::start(watch_options options, callback on_event) {
  if (options.dirs.empty()) {
    return fail(errc::watch_failed, "", "no directory to watch", "give at least one directory");
  }
  if (!on_event) return fail(errc::watch_failed, "", "no callback for the events");
  try {
    auto p = std::make_unique<impl>(std::move(options), std::move(on_event));
    if (!p->options.force_polling) {
      auto native = os::open_native_file_watcher();
      if (!native) {
        p->fallback_reason = native.error();
      } else if (auto added = add_all(**native, p->options.dirs); !added) {
        // A directory inotify cannot watch but polling can means inotify is the problem (the
        // per-user watch limit); otherwise the directory is, and polling fails the same way.
        p->fallback_reason = added.error();
      } else {
        p->backend = std::move(*native);
      }
    }
    if (!p->backend) {
      p->backend = os::open_polling_file_watcher(p->options.poll_interval);
      if (auto added = add_all(*p->backend, p->options.dirs); !added) return fail(added.error());
    }
    for (const fs::path& dir : p->options.dirs) {
      for (auto& [key, id] : p->snapshot(dir)) {
        p->known_.insert_or_assign(key, impl::known_file{dir, id, true});
      }
    }
    impl* raw = p.get();
    p->thread = std::thread([raw] { raw->run(); });
    os::name_thread(p->thread, "livemod-watch");
    return module_watcher(std::move(p));
  } catch (const std::exception& e) {
    return fail(errc::watch_failed, "", std::string("cannot start watching: ") + e.what());
  }
}

module_watcher::module_watcher(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
module_watcher::module_watcher(module_watcher&&) noexcept = default;

module_watcher& module_watcher::operator=(module_watcher&& other) noexcept {
  if (this != &other) {
    stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

module_watcher::~module_watcher() {
  if (!impl_) return;
  if (impl_->thread_id.load(std::memory_order_acquire) == std::this_thread::get_id()) {
    // Destroyed from its own callback, which the header forbids: ending the thread would mean
    // joining ourselves. Let it finish on its own and leak the state it still uses.
    impl_->stopping.store(true, std::memory_order_release);
    impl_->thread.detach();
    static_cast<void>(impl_.release());
    return;
  }
  stop();
}

void module_watcher::stop() noexcept {
  if (!impl_) return;
  impl_->stopping.store(true, std::memory_order_release);
  impl_->backend->wake();
  // From the callback: the thread ends after it returns; joining here would wait on ourselves.
  if (impl_->thread_id.load(std::memory_order_acquire) == std::this_thread::get_id()) return;
  std::lock_guard lock(impl_->join_mutex);
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string_view module_watcher::backend() const noexcept {
  return impl_ ? impl_->backend->backend() : std::string_view();
}

const std::optional<error>& module_watcher::fallback_reason() const noexcept {
  static const std::optional<error> none;
  return impl_ ? impl_->fallback_reason : none;
}

watch_stats module_watcher::stats() const noexcept {
  watch_stats s;
  if (!impl_) return s;
  s.raw_events = impl_->stats_raw_events.load(std::memory_order_relaxed);
  s.checks = impl_->stats_checks.load(std::memory_order_relaxed);
  s.failed_checks = impl_->stats_failed_checks.load(std::memory_order_relaxed);
  s.delivered = impl_->stats_delivered.load(std::memory_order_relaxed);
  s.rescans = impl_->stats_rescans.load(std::memory_order_relaxed);
  s.callback_exceptions = impl_->stats_callback_exceptions.load(std::memory_order_relaxed);
  return s;
}

}  // namespace livemod
