// module_watcher: what a consumer sees for each way a module file changes, with both backends.
// Every wait has a generous timeout and ends on a condition; nothing asserts on time.
#include "livemod/watch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "os/file_events.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

constexpr auto k_patience = std::chrono::seconds(60);

// ---- files ----------------------------------------------------------------------------------

const std::string& calculator_bytes() {
  static const std::string bytes = [] {
    std::ifstream in(LIVEMOD_FIXTURE_CALCULATOR, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }();
  return bytes;
}

// A complete module with its version number in a trailer after the section headers, where the
// ELF checks (and the dynamic linker) never look. By default each version has its own size, as
// real rebuilds mostly do; `same_size` makes versions differ only in their bytes.
constexpr std::size_t k_marker_size = 11;  // "LMV" + 8 digits
std::string version_bytes(int version, bool same_size = false) {
  std::string out = calculator_bytes();
  if (!same_size) out.append(static_cast<std::size_t>(version), 'p');
  char marker[k_marker_size + 1];
  std::snprintf(marker, sizeof marker, "LMV%08d", version);
  out.append(marker, k_marker_size);
  return out;
}

// The version in the file now, or -1 when there is none (missing, torn, not ours).
int version_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < k_marker_size) return -1;
  const std::string marker = bytes.substr(bytes.size() - k_marker_size);
  if (marker.compare(0, 3, "LMV") != 0) return -1;
  return std::atoi(marker.c_str() + 3);
}

void write_fd(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    ASSERT_GT(n, 0) << std::strerror(errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// open(O_TRUNC) + write + close, the way `cp` and most linkers write; with `mtime`, the times
// are set before the close, so the close event already sees them.
void write_in_place(const fs::path& path, std::string_view bytes,
                    std::optional<timespec> mtime = std::nullopt) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  write_fd(fd, bytes);
  if (mtime) {
    const timespec times[2] = {*mtime, *mtime};
    ASSERT_EQ(::futimens(fd, times), 0) << std::strerror(errno);
  }
  ASSERT_EQ(::close(fd), 0);
}

// The atomic replace build systems do: a temporary name beside the target, then rename(2).
void write_atomic(const fs::path& path, std::string_view bytes,
                  std::optional<timespec> mtime = std::nullopt) {
  const fs::path tmp = path.string() + ".tmp";
  write_in_place(tmp, bytes, mtime);
  fs::rename(tmp, path);
}

// ---- what the consumer saw --------------------------------------------------------------------

struct seen_event {
  watch_event event;
  int version = -1;  // read from the file inside the callback, for `changed`
};

class collector {
 public:
  // Runs first inside each callback (to block, sleep or throw).
  std::function<void(const watch_event&)> hook;

  void on_event(const watch_event& e) {
    if (hook) hook(e);
    const int version = e.kind == watch_event_kind::changed ? version_of(e.path) : -1;
    {
      std::lock_guard lock(mutex_);
      events_.push_back({e, version});
    }
    cv_.notify_all();
  }

  bool wait_until(const std::function<bool(const std::vector<seen_event>&)>& done) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, k_patience, [&] { return done(events_); });
  }

  std::vector<seen_event> for_path(const fs::path& path) const {
    std::lock_guard lock(mutex_);
    std::vector<seen_event> out;
    for (const seen_event& e : events_) {
      if (e.event.path == path) out.push_back(e);
    }
    return out;
  }

  std::vector<seen_event> all() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<seen_event> events_;
};

bool has(const std::vector<seen_event>& events, const fs::path& path, watch_event_kind kind,
         int version = -1) {
  return std::any_of(events.begin(), events.end(), [&](const seen_event& e) {
    return e.event.path == path && e.event.kind == kind && (version < 0 || e.version == version);
  });
}

// For conditions no callback announces (the watcher's counters): looks again every millisecond.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + k_patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Generations of one path are 1, 2, 3 ... with no gap.
void expect_consecutive_generations(const std::vector<seen_event>& events) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].event.generation, i + 1) << "event " << i;
  }
}

// Stops the watcher when a test ends, before the locals its callback hook refers to go: declare
// it after them.
struct stop_on_exit {
  std::optional<module_watcher>& watcher;
  ~stop_on_exit() {
    if (watcher) watcher->stop();
  }
};

// ---- the fixture ------------------------------------------------------------------------------

enum class backend_kind { inotify, polling };

class watcher_test : public ::testing::TestWithParam<backend_kind> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(calculator_bytes().empty()) << LIVEMOD_FIXTURE_CALCULATOR;
    std::string pattern = (fs::temp_directory_path() / "livemod_watch_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    if (watcher_) watcher_->stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  bool polling() const { return GetParam() == backend_kind::polling; }

  watch_options options() const {
    watch_options o;
    o.dirs = {dir_};
    o.force_polling = polling();
    o.poll_interval = milliseconds(10);
    o.settle = milliseconds(10);
    o.retry_window = std::chrono::seconds(30);  // tests that want `incomplete` shorten it
    return o;
  }

  void start(const watch_options& o) {
    auto w = module_watcher::start(o, [this](const watch_event& e) { seen_.on_event(e); });
    ASSERT_THAT(w, IsOk());
    EXPECT_EQ(w->backend(), polling() ? "polling" : "inotify");
    watcher_.emplace(std::move(*w));
  }
  void start() { start(options()); }

  // Writes a fresh module and waits for it: every event caused before the barrier's write has
  // been delivered by then (inotify keeps order; a scan that sees a file also saw all earlier
  // changes, and a second barrier is past the settle of anything the first scan found).
  void barrier() {
    for (int i = 0; i < 2; ++i) {
      const fs::path p = dir_ / ("libbarrier" + std::to_string(barriers_++) + ".so");
      write_in_place(p, version_bytes(0));
      ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed); }))
          << "no event for " << p;
    }
  }

  // Changes a module the way this backend can always see: polling cannot tell two same-size
  // in-place writes within one kernel clock tick apart (docs/watching.md), a rename it can.
  void write_version(const fs::path& path, std::string_view bytes, std::optional<timespec> mtime) {
    if (polling()) {
      write_atomic(path, bytes, mtime);
    } else {
      write_in_place(path, bytes, mtime);
    }
  }

  fs::path dir_;
  collector seen_;  // declared before the watcher: it must outlive the callbacks
  std::optional<module_watcher> watcher_;
  int barriers_ = 0;
};

INSTANTIATE_TEST_SUITE_P(backends, watcher_test,
                         ::testing::Values(backend_kind::inotify, backend_kind::polling),
                         [](const auto& param_info) {
                           return param_info.param == backend_kind::inotify ? "inotify" : "polling";
                         });

TEST_P(watcher_test, write_in_place_gives_one_changed_event) {
  start();
  const fs::path p = dir_ / "libcalc.so";
  const std::string bytes = version_bytes(1);
  write_in_place(p, bytes);
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed); }));
  barrier();
  const auto events = seen_.for_path(p);
  ASSERT_EQ(events.size(), 1u);  // create + write + close is one event, not two
  EXPECT_EQ(events[0].version, 1);
  EXPECT_EQ(events[0].event.generation, 1u);
  EXPECT_EQ(events[0].event.stamp.size, bytes.size());
  EXPECT_GE(events[0].event.merged, 1u);
  EXPECT_FALSE(events[0].event.problem.has_value());
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(events[0].event.stamp.inode, static_cast<std::uint64_t>(st.st_ino));
}

TEST_P(watcher_test, atomic_rename_gives_changed_and_never_the_temporary_name) {
  watch_options o = options();
  o.patterns = {"*"};  // so only the temporary-name rule keeps "libcalc.so.tmp" out
  start(o);
  const fs::path p = dir_ / "libcalc.so";
  write_atomic(p, version_bytes(1));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 1); }));
  write_atomic(p, version_bytes(2));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 2); }));
  barrier();
  for (const seen_event& e : seen_.all()) {
    EXPECT_THAT(e.event.path.string(), ::testing::Not(HasSubstr(".tmp"))) << to_string(e.event.kind);
  }
  const auto events = seen_.for_path(p);
  ASSERT_EQ(events.size(), 2u);
  expect_consecutive_generations(events);
  EXPECT_NE(events[0].event.stamp.inode, events[1].event.stamp.inode);
}

TEST_P(watcher_test, delete_gives_removed) {
  const fs::path p = dir_ / "libcalc.so";
  write_in_place(p, version_bytes(1));
  start();
  fs::remove(p);
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::removed); }));
  barrier();
  const auto events = seen_.for_path(p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.generation, 1u);
  EXPECT_EQ(events[0].event.stamp, file_stamp{});
}

// Without a debounce, delete + create is `removed` then `changed`, unless both were read before
// the watcher acted on the first (then one `changed`). Either way the last word is the new file.
TEST_P(watcher_test, delete_then_create_ends_with_the_new_file) {
  const fs::path p = dir_ / "libcalc.so";
  write_in_place(p, version_bytes(1));
  start();
  fs::remove(p);
  write_in_place(p, version_bytes(2));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 2); }));
  barrier();
  const auto events = seen_.for_path(p);
  ASSERT_TRUE(events.size() == 1 || events.size() == 2) << events.size();
  if (events.size() == 2) {
    EXPECT_EQ(events[0].event.kind, watch_event_kind::removed);
  }
  EXPECT_EQ(events.back().event.kind, watch_event_kind::changed);
  EXPECT_EQ(events.back().version, 2);
  expect_consecutive_generations(events);
}

// Delete and create within one debounce window merge: one `changed`, nothing in between.
TEST_P(watcher_test, delete_then_create_within_the_debounce_window_is_one_changed) {
  const fs::path p = dir_ / "libcalc.so";
  write_in_place(p, version_bytes(1));
  watch_options o = options();
  o.debounce = std::chrono::seconds(2);
  start(o);
  fs::remove(p);
  write_in_place(p, version_bytes(2));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 2); }));
  const auto events = seen_.for_path(p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.generation, 1u);
  if (!polling()) {
    EXPECT_GE(events[0].event.merged, 3u);  // delete, create, close
  }
}

TEST_P(watcher_test, editor_temporary_files_are_ignored) {
  watch_options o = options();
  o.patterns = {"*"};
  start(o);
  // Complete ELF content, so nothing but the name rule could keep them out.
  for (const char* name : {".libcalc.so.swp", "libcalc.so.swp", "libcalc.so~", "4913", "#libcalc.so#",
                           ".#libcalc.so", "libcalc.so.tmp", "libcalc.so.tmp.4711", "libcalc.tmp-x7Yq.so",
                           ".nfs0000000001"}) {
    write_in_place(dir_ / name, version_bytes(1));
  }
  barrier();
  for (const seen_event& e : seen_.all()) {
    EXPECT_THAT(e.event.path.filename().string(), ::testing::StartsWith("libbarrier"));
  }
}

TEST_P(watcher_test, names_outside_the_patterns_are_ignored) {
  start();  // lib*.so
  write_in_place(dir_ / "notes.txt", version_bytes(1));
  write_in_place(dir_ / "libcalc.so.1", version_bytes(1));
  write_in_place(dir_ / "calc.so", version_bytes(1));
  fs::create_directory(dir_ / "libdir.so");
  barrier();
  for (const seen_event& e : seen_.all()) {
    EXPECT_THAT(e.event.path.filename().string(), ::testing::StartsWith("libbarrier"));
  }
}

// 100 versions land while the consumer is stuck in its first callback and slow after it: the
// consumer gets few events, the newest version is the last one it gets, and nothing follows.
TEST_P(watcher_test, rapid_rewrites_with_a_busy_consumer_coalesce_and_the_last_wins) {
  const fs::path p = dir_ / "libcalc.so";
  write_in_place(p, version_bytes(0));
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool gate_open = false;
  std::atomic<int> calls{0};
  const stop_on_exit guard{watcher_};
  seen_.hook = [&](const watch_event& e) {
    if (e.path != p) return;
    if (calls.fetch_add(1) == 0) {
      std::unique_lock lock(gate_mutex);
      gate_cv.wait(lock, [&] { return gate_open; });
    }
    std::this_thread::sleep_for(milliseconds(2));  // slower than the writer
  };
  start();
  for (int v = 1; v <= 100; ++v) write_in_place(p, version_bytes(v));
  {
    std::lock_guard lock(gate_mutex);
    gate_open = true;
  }
  gate_cv.notify_all();
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 100); }));
  barrier();
  const auto events = seen_.for_path(p);
  ASSERT_GE(events.size(), 1u);
  // The first callback held everything back; what piled up came out as one event.
  EXPECT_LE(events.size(), 2u);
  EXPECT_EQ(events.back().event.kind, watch_event_kind::changed);
  EXPECT_EQ(events.back().version, 100);
  EXPECT_EQ(events.back().event.stamp.size, version_bytes(100).size());
  expect_consecutive_generations(events);
  for (const seen_event& e : events) EXPECT_EQ(e.event.kind, watch_event_kind::changed);
}

// Two versions within one second, with equal size and equal mtime to the nanosecond: both are
// delivered, because nothing is keyed on times (inotify) or the identity still differs (polling:
// the rename gives a new inode).
TEST_P(watcher_test, two_versions_in_the_same_second_are_both_seen) {
  start();
  const fs::path p = dir_ / "libcalc.so";
  const timespec same{1'700'000'000, 123'456'789};
  write_version(p, version_bytes(1, true), same);
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 1); }));
  write_version(p, version_bytes(2, true), same);
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 2); }));
  const auto events = seen_.for_path(p);
  ASSERT_EQ(events.size(), 2u);
  expect_consecutive_generations(events);
  EXPECT_EQ(events[0].event.stamp.mtime_ns, events[1].event.stamp.mtime_ns);
  EXPECT_EQ(events[0].event.stamp.size, events[1].event.stamp.size);
}

// A writer that stops after a truncated ELF header, keeping the file open, then finishes it: the
// watcher looks, refuses, and delivers only the complete file, once.
TEST_P(watcher_test, a_file_written_in_two_halves_is_delivered_once_complete) {
  start();
  const std::string bytes = version_bytes(7);
  const std::string_view head = std::string_view(bytes).substr(0, 30);
  const std::string_view rest = std::string_view(bytes).substr(30);

  const fs::path open_writer = dir_ / "libopen.so";
  const int fd = ::open(open_writer.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  write_fd(fd, head);
  const std::uint64_t failed_before = watcher_->stats().failed_checks;
  ASSERT_TRUE(eventually([&] {
    return watcher_->stats().failed_checks >= failed_before + 3;  // looked three times, refused
  }));
  EXPECT_TRUE(seen_.for_path(open_writer).empty());
  write_fd(fd, rest);
  ASSERT_EQ(::close(fd), 0);

  // The same with a close between the halves: the first close's event must not deliver either.
  const fs::path two_closes = dir_ / "libtwice.so";
  write_in_place(two_closes, head);
  const std::uint64_t failed_mid = watcher_->stats().failed_checks;
  ASSERT_TRUE(eventually([&] { return watcher_->stats().failed_checks >= failed_mid + 3; }));
  EXPECT_TRUE(seen_.for_path(two_closes).empty());
  const int fd2 = ::open(two_closes.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd2, 0);
  write_fd(fd2, rest);
  ASSERT_EQ(::close(fd2), 0);

  for (const fs::path& p : {open_writer, two_closes}) {
    ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::changed, 7); }))
        << p;
  }
  barrier();
  for (const fs::path& p : {open_writer, two_closes}) {
    const auto events = seen_.for_path(p);
    ASSERT_EQ(events.size(), 1u) << p;
    EXPECT_EQ(events[0].event.stamp.size, bytes.size());
  }
}

TEST_P(watcher_test, a_file_that_stays_incomplete_is_reported_after_the_retry_window) {
  watch_options o = options();
  o.retry_window = milliseconds(300);
  start(o);
  const std::string& full = calculator_bytes();
  const fs::path short_header = dir_ / "libshort.so";
  const fs::path cut = dir_ / "libcut.so";
  const fs::path text = dir_ / "libtext.so";
  write_in_place(short_header, std::string_view(full).substr(0, 30));
  write_in_place(cut, std::string_view(full).substr(0, full.size() / 2));
  write_in_place(text, "INPUT(-lfoo)\n");  // a linker script is not a module
  for (const fs::path& p : {short_header, cut, text}) {
    ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, p, watch_event_kind::incomplete); }))
        << p;
    const auto events = seen_.for_path(p);
    ASSERT_EQ(events.size(), 1u) << p;
    ASSERT_TRUE(events[0].event.problem.has_value());
    EXPECT_EQ(events[0].event.problem->code(), errc::file_incomplete);
    EXPECT_EQ(events[0].event.problem->file(), p.string());
  }
  EXPECT_THAT(seen_.for_path(short_header)[0].event.problem->cause(), HasSubstr("truncated ELF header"));
  EXPECT_THAT(seen_.for_path(cut)[0].event.problem->cause(), HasSubstr("section header table"));
  EXPECT_THAT(seen_.for_path(text)[0].event.problem->cause(), HasSubstr("not an ELF file"));

  // Finishing the file later is a new chance: it is delivered.
  write_in_place(cut, version_bytes(3));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, cut, watch_event_kind::changed, 3); }));
  EXPECT_EQ(seen_.for_path(cut).back().event.generation, 2u);
}

TEST_P(watcher_test, the_watched_directory_going_away_is_reported) {
  const fs::path mods = dir_ / "mods";
  fs::create_directory(mods);
  const fs::path p = mods / "libcalc.so";
  write_in_place(p, version_bytes(1));
  watch_options o = options();
  o.dirs = {mods};
  start(o);
  fs::remove_all(mods);
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return has(ev, mods, watch_event_kind::watch_lost); }));
  const auto lost = seen_.for_path(mods);
  ASSERT_EQ(lost.size(), 1u);
  ASSERT_TRUE(lost[0].event.problem.has_value());
  EXPECT_EQ(lost[0].event.problem->code(), errc::watch_failed);
  EXPECT_TRUE(has(seen_.all(), p, watch_event_kind::removed));
}

TEST_P(watcher_test, several_directories_are_watched) {
  const fs::path a = dir_ / "a";
  const fs::path b = dir_ / "b";
  fs::create_directory(a);
  fs::create_directory(b);
  watch_options o = options();
  o.dirs = {a, b};
  start(o);
  write_in_place(a / "libx.so", version_bytes(1));
  write_in_place(b / "libx.so", version_bytes(2));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) {
    return has(ev, a / "libx.so", watch_event_kind::changed, 1) &&
           has(ev, b / "libx.so", watch_event_kind::changed, 2);
  }));
  EXPECT_EQ(seen_.for_path(b / "libx.so")[0].event.generation, 1u);  // generations are per path
}

TEST_P(watcher_test, an_exception_from_the_callback_is_contained) {
  std::atomic<int> calls{0};
  const stop_on_exit guard{watcher_};
  seen_.hook = [&](const watch_event&) {
    if (calls.fetch_add(1) == 0) throw std::runtime_error("consumer bug");
  };
  start();
  write_in_place(dir_ / "libone.so", version_bytes(1));
  write_in_place(dir_ / "libtwo.so", version_bytes(2));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) {
    return has(ev, dir_ / "libtwo.so", watch_event_kind::changed) ||
           has(ev, dir_ / "libone.so", watch_event_kind::changed);
  }));
  barrier();
  EXPECT_EQ(watcher_->stats().callback_exceptions, 1u);
  EXPECT_GE(watcher_->stats().delivered, 3u);
}

TEST_P(watcher_test, stop_is_prompt_even_with_work_pending) {
  watch_options o = options();
  o.poll_interval = std::chrono::hours(1);
  o.retry_window = std::chrono::hours(1);
  o.debounce = std::chrono::hours(1);
  start(o);
  write_in_place(dir_ / "libpending.so", "\x7f" "EL");  // would be retried for an hour
  auto stopped = std::async(std::launch::async, [&] { watcher_->stop(); });
  ASSERT_EQ(stopped.wait_for(k_patience), std::future_status::ready);
  watcher_->stop();  // idempotent
  EXPECT_TRUE(seen_.all().empty());
}

TEST_P(watcher_test, stop_from_the_callback_does_not_deadlock) {
  std::atomic<module_watcher*> self{nullptr};
  const stop_on_exit guard{watcher_};
  seen_.hook = [&](const watch_event&) {
    if (module_watcher* w = self.load()) w->stop();
  };
  start();
  self.store(&*watcher_);
  write_in_place(dir_ / "libcalc.so", version_bytes(1));
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) { return !ev.empty(); }));
  auto destroyed = std::async(std::launch::async, [&] { watcher_.reset(); });
  ASSERT_EQ(destroyed.wait_for(k_patience), std::future_status::ready);
  EXPECT_EQ(seen_.all().size(), 1u);
}

TEST_P(watcher_test, start_refuses_bad_arguments) {
  watch_options o = options();
  o.dirs = {};
  EXPECT_THAT(module_watcher::start(o, [](const watch_event&) {}), HasCode(errc::watch_failed));
  o.dirs = {dir_ / "missing"};
  EXPECT_THAT(module_watcher::start(o, [](const watch_event&) {}),
              HasCodeAndMessage(errc::watch_failed, HasSubstr("missing")));
  o.dirs = {dir_};
  EXPECT_THAT(module_watcher::start(o, nullptr), HasCode(errc::watch_failed));
}

// ---- inotify only -----------------------------------------------------------------------------

class inotify_watcher_test : public watcher_test {};

// Overflowing the kernel's queue loses events; the rescan finds what they would have said.
TEST_F(inotify_watcher_test, lost_events_are_recovered_by_a_rescan) {
  const fs::path calc = dir_ / "libcalc.so";
  const fs::path other = dir_ / "libother.so";
  write_in_place(calc, version_bytes(1));
  write_in_place(other, version_bytes(1));
  const fs::path first = dir_ / "libfirst.so";
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool entered = false;
  bool gate_open = false;
  const stop_on_exit guard{watcher_};
  seen_.hook = [&](const watch_event& e) {
    if (e.path != first) return;
    std::unique_lock lock(gate_mutex);
    entered = true;
    gate_cv.notify_all();
    gate_cv.wait(lock, [&] { return gate_open; });
  };
  watch_options o;  // not options(): this fixture has no parameter
  o.dirs = {dir_};
  auto w = module_watcher::start(o, [this](const watch_event& e) { seen_.on_event(e); });
  ASSERT_THAT(w, IsOk());
  if (w->backend() != "inotify") GTEST_SKIP() << "inotify unavailable here";
  watcher_.emplace(std::move(*w));

  write_in_place(first, version_bytes(1));
  {
    std::unique_lock lock(gate_mutex);
    ASSERT_TRUE(gate_cv.wait_for(lock, k_patience, [&] { return entered; }));
  }
  write_in_place(calc, version_bytes(2));
  long limit = 16384;
  if (std::ifstream in("/proc/sys/fs/inotify/max_queued_events"); in) in >> limit;
  // Alternating names: the kernel merges identical consecutive events, not these.
  for (long i = 0; i < limit + 64; ++i) {
    const fs::path junk = dir_ / (i % 2 == 0 ? "junk_a" : "junk_b");
    const int fd = ::open(junk.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  fs::remove(other);  // its deletion is past the overflow: only a rescan can see it
  {
    std::lock_guard lock(gate_mutex);
    gate_open = true;
  }
  gate_cv.notify_all();
  ASSERT_TRUE(seen_.wait_until([&](const auto& ev) {
    return has(ev, calc, watch_event_kind::changed, 2) && has(ev, other, watch_event_kind::removed);
  }));
  EXPECT_GE(watcher_->stats().rescans, 1u);
}

TEST(watcher_fallback_test, inotify_unavailable_falls_back_to_polling) {
  std::string pattern = (fs::temp_directory_path() / "livemod_watch_XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern;
  collector seen;
  watch_options o;
  o.dirs = {dir};
  o.poll_interval = milliseconds(10);
  o.settle = milliseconds(10);
  {
    os::native_watch_api fake = os::current_native_watch_api();
    fake.init = [](int) {
      errno = ENOSYS;
      return -1;
    };
    os::scoped_native_watch_api_override use(fake);
    auto w = module_watcher::start(o, [&](const watch_event& e) { seen.on_event(e); });
    ASSERT_THAT(w, IsOk());
    EXPECT_EQ(w->backend(), "polling");
    ASSERT_TRUE(w->fallback_reason().has_value());
    EXPECT_EQ(w->fallback_reason()->code(), errc::watch_failed);
    EXPECT_EQ(w->fallback_reason()->os_text(), std::strerror(ENOSYS));
    // And it works.
    write_in_place(dir / "libcalc.so", version_bytes(1));
    EXPECT_TRUE(seen.wait_until([&](const auto& ev) {
      return has(ev, dir / "libcalc.so", watch_event_kind::changed, 1);
    }));
  }
  {
    // Out of inotify watches (the per-user limit): polling too, and the reason says which knob.
    os::native_watch_api fake = os::current_native_watch_api();
    fake.add_watch = [](int, const char*, std::uint32_t) {
      errno = ENOSPC;
      return -1;
    };
    os::scoped_native_watch_api_override use(fake);
    auto w = module_watcher::start(o, [](const watch_event&) {});
    ASSERT_THAT(w, IsOk());
    EXPECT_EQ(w->backend(), "polling");
    ASSERT_TRUE(w->fallback_reason().has_value());
    EXPECT_THAT(w->fallback_reason()->message(), HasSubstr("max_user_watches"));
  }
  {
    auto w = module_watcher::start(o, [](const watch_event&) {});
    ASSERT_THAT(w, IsOk());
    EXPECT_EQ(w->backend(), "inotify");
    EXPECT_FALSE(w->fallback_reason().has_value());
    o.force_polling = true;
    auto forced = module_watcher::start(o, [](const watch_event&) {});
    ASSERT_THAT(forced, IsOk());
    EXPECT_EQ(forced->backend(), "polling");
    EXPECT_FALSE(forced->fallback_reason().has_value());  // asked for, not a fallback
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The check itself, on copies of a real module with one header field or the tail cut.
TEST(check_complete_test, accepts_a_module_and_refuses_each_kind_of_damage) {
  std::string pattern = (fs::temp_directory_path() / "livemod_check_XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern;
  const std::string& good = calculator_bytes();
  const auto write = [&](const char* name, const std::string& bytes) {
    write_in_place(dir / name, bytes);
    return dir / name;
  };

  auto ok = check_complete(write("libgood.so", good));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->size, good.size());
  EXPECT_NE(ok->inode, 0u);

  EXPECT_THAT(check_complete(dir / "missing.so"), HasCode(errc::file_not_found));
  EXPECT_THAT(check_complete(write("empty.so", "")),
              HasCodeAndMessage(errc::file_incomplete, HasSubstr("empty")));
  EXPECT_THAT(check_complete(dir), HasCodeAndMessage(errc::file_incomplete, HasSubstr("regular")));
  EXPECT_THAT(check_complete(write("short.so", good.substr(0, 40))),
              HasCodeAndMessage(errc::file_incomplete, HasSubstr("40 of 64")));
  // The section header table is the last thing in the file: one byte less and it does not fit.
  EXPECT_THAT(check_complete(write("cut.so", good.substr(0, good.size() - 1))),
              HasCodeAndMessage(errc::file_incomplete, HasSubstr("section header table")));
  std::string bad_class = good;
  bad_class[4] = 7;
  EXPECT_THAT(check_complete(write("class.so", bad_class)),
              HasCodeAndMessage(errc::file_incomplete, HasSubstr("class 7")));
  std::string bad_order = good;
  bad_order[5] = 3;
  EXPECT_THAT(check_complete(write("order.so", bad_order)),
              HasCodeAndMessage(errc::file_incomplete, HasSubstr("byte order")));
  // e_phoff pointing past the end (little-endian ELF64: bytes 32..39).
  std::string far_phdrs = good;
  far_phdrs[38] = 1;
  EXPECT_THAT(check_complete(write("phdrs.so", far_phdrs)),
              HasCodeAndMessage(errc::file_incomplete, HasSubstr("program header table")));
  // e_shnum 0 with e_shoff set: extended numbering, the count comes from section 0 (sh_size 0
  // in a normal file, so the table is just that entry and fits).
  std::string extended = good;
  extended[60] = 0;
  extended[61] = 0;
  EXPECT_THAT(check_complete(write("extended.so", extended)), IsOk());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(temporary_names_test, editor_and_build_tool_names) {
  for (const char* name : {".libfoo.so.swp", "libfoo.so.swp", "libfoo.so.swo", "libfoo.so~", "4913",
                           "#libfoo.so#", ".#libfoo.so", "libfoo.so.tmp", "libfoo.so.tmp.123",
                           "libfoo.tmp-x7Yq.so", "libfoo.so.part", "libfoo.so.bak", ".nfs000001", ""}) {
    EXPECT_TRUE(is_temporary_name(name)) << name;
  }
  for (const char* name : {"libfoo.so", "libtemplate.so", "libpart.so", "libtmp.so", "libfoo.so.1",
                           "libfoo.original.so", "libbak.so"}) {
    EXPECT_FALSE(is_temporary_name(name)) << name;
  }
}

TEST(watch_event_kind_test, names) {
  EXPECT_EQ(to_string(watch_event_kind::changed), "changed");
  EXPECT_EQ(to_string(watch_event_kind::removed), "removed");
  EXPECT_EQ(to_string(watch_event_kind::incomplete), "incomplete");
  EXPECT_EQ(to_string(watch_event_kind::watch_lost), "watch_lost");
  EXPECT_EQ(to_string(errc::watch_failed), "watch_failed");
  EXPECT_EQ(to_string(errc::file_incomplete), "file_incomplete");
}

}  // namespace
}  // namespace livemod
