// The watch primitive's two backends seen directly: which raw event each file operation gives,
// that wake() interrupts a wait, and the seam that makes inotify unavailable.
#include "os/file_events.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/matchers.h"

namespace livemod::os {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;
using ::testing::HasSubstr;

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class file_events_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "livemod_events_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Waits (generously) until an event of `kind` for `name` shows up, collecting all of them.
  static bool wait_for(file_watcher& w, file_event_kind kind, const std::string& name,
                       std::vector<file_event>& seen) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::size_t before = seen.size();
      if (!w.wait(milliseconds(100), seen)) return false;
      for (std::size_t i = before; i < seen.size(); ++i) {
        if (seen[i].kind == kind && seen[i].name == name) return true;
      }
    }
    return false;
  }

  fs::path dir_;
};

TEST_F(file_events_test, stat_identity_tells_versions_apart) {
  const fs::path p = dir_ / "a";
  write_file(p, "one");
  auto first = stat_identity(p);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->regular);
  EXPECT_EQ(first->size, 3u);
  write_file(p, "three");
  auto second = stat_identity(p);
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(*first, *second);  // size
  // A rename over the name changes the inode even with equal size and mtime.
  write_file(dir_ / "b", "three");
  fs::rename(dir_ / "b", p);
  auto third = stat_identity(p);
  ASSERT_THAT(third, IsOk());
  EXPECT_NE(third->inode, second->inode);
  EXPECT_THAT(stat_identity(dir_ / "missing"), HasCode(errc::file_not_found));
}

TEST_F(file_events_test, list_dir_and_read_only_file) {
  write_file(dir_ / "x", "hello");
  auto names = list_dir(dir_);
  ASSERT_THAT(names, IsOk());
  EXPECT_THAT(*names, ::testing::ElementsAre("x"));
  EXPECT_THAT(list_dir(dir_ / "missing"), HasCode(errc::file_not_found));
  EXPECT_THAT(list_dir(dir_ / "x"), HasCode(errc::not_a_regular_file));

  auto f = read_only_file::open(dir_ / "x");
  ASSERT_THAT(f, IsOk());
  std::array<std::byte, 8> buf{};
  auto n = f->read_at(3, buf);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(*n, 2u);  // short at the end of the file, not an error
  EXPECT_EQ(std::to_integer<char>(buf[0]), 'l');
  auto past = f->read_at(100, buf);
  ASSERT_THAT(past, IsOk());
  EXPECT_EQ(*past, 0u);
  EXPECT_THAT(read_only_file::open(dir_ / "missing"), HasCode(errc::file_not_found));
}

TEST_F(file_events_test, inotify_reports_each_kind_of_change) {
  auto w = open_native_file_watcher();
  ASSERT_THAT(w, IsOk());
  EXPECT_EQ((*w)->backend(), "inotify");
  ASSERT_THAT((*w)->add_dir(dir_), IsOk());
  std::vector<file_event> seen;

  // open(O_CREAT) + write + close: created, then written.
  write_file(dir_ / "libm.so", "v1");
  ASSERT_TRUE(wait_for(**w, file_event_kind::written, "libm.so", seen));
  EXPECT_EQ(seen.front().kind, file_event_kind::created);
  EXPECT_EQ(seen.front().dir, dir_);

  write_file(dir_ / "tmp", "v2");
  fs::rename(dir_ / "tmp", dir_ / "libm.so");
  ASSERT_TRUE(wait_for(**w, file_event_kind::moved_in, "libm.so", seen));
  // The temporary name's departure is reported too: filtering names is the watcher's job.
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const file_event& e) {
    return e.kind == file_event_kind::removed && e.name == "tmp";
  }));

  fs::remove(dir_ / "libm.so");
  seen.clear();
  ASSERT_TRUE(wait_for(**w, file_event_kind::removed, "libm.so", seen));

  // A subdirectory is not a module: nothing for it.
  fs::create_directory(dir_ / "sub");
  write_file(dir_ / "after", "x");
  seen.clear();
  ASSERT_TRUE(wait_for(**w, file_event_kind::written, "after", seen));
  for (const file_event& e : seen) EXPECT_NE(e.name, "sub");
}

TEST_F(file_events_test, inotify_reports_the_directory_going) {
  fs::create_directory(dir_ / "watched");
  auto w = open_native_file_watcher();
  ASSERT_THAT(w, IsOk());
  ASSERT_THAT((*w)->add_dir(dir_ / "watched"), IsOk());
  fs::remove(dir_ / "watched");
  std::vector<file_event> seen;
  ASSERT_TRUE(wait_for(**w, file_event_kind::dir_gone, "", seen));
  EXPECT_EQ(seen.back().dir, dir_ / "watched");
}

TEST_F(file_events_test, polling_reports_differences_between_scans) {
  write_file(dir_ / "old", "x");
  auto w = open_polling_file_watcher(milliseconds(5));
  EXPECT_EQ(w->backend(), "polling");
  ASSERT_THAT(w->add_dir(dir_), IsOk());
  std::vector<file_event> seen;
  write_file(dir_ / "libm.so", "v1");
  ASSERT_TRUE(wait_for(*w, file_event_kind::changed, "libm.so", seen));
  // What was there when watching began is the baseline, not a change.
  for (const file_event& e : seen) EXPECT_NE(e.name, "old");
  fs::remove(dir_ / "old");
  ASSERT_TRUE(wait_for(*w, file_event_kind::removed, "old", seen));
}

TEST_F(file_events_test, polling_reports_the_directory_going) {
  fs::create_directory(dir_ / "watched");
  write_file(dir_ / "watched" / "f", "x");
  auto w = open_polling_file_watcher(milliseconds(5));
  ASSERT_THAT(w->add_dir(dir_ / "watched"), IsOk());
  fs::remove_all(dir_ / "watched");
  std::vector<file_event> seen;
  ASSERT_TRUE(wait_for(*w, file_event_kind::dir_gone, "", seen));
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const file_event& e) {
    return e.kind == file_event_kind::removed && e.name == "f";
  }));
}

TEST_F(file_events_test, wake_interrupts_an_unbounded_wait) {
  for (bool native : {true, false}) {
    SCOPED_TRACE(native ? "inotify" : "polling");
    std::unique_ptr<file_watcher> w;
    if (native) {
      auto n = open_native_file_watcher();
      ASSERT_THAT(n, IsOk());
      w = std::move(*n);
    } else {
      w = open_polling_file_watcher(std::chrono::hours(1));
    }
    ASSERT_THAT(w->add_dir(dir_), IsOk());
    std::vector<file_event> seen;
    auto waiting = std::async(std::launch::async, [&] { return w->wait(milliseconds(-1), seen); });
    w->wake();
    ASSERT_EQ(waiting.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    EXPECT_THAT(waiting.get(), IsOk());
    EXPECT_TRUE(seen.empty());
  }
}

TEST_F(file_events_test, add_dir_refuses_what_is_not_a_directory) {
  write_file(dir_ / "file", "x");
  auto native = open_native_file_watcher();
  ASSERT_THAT(native, IsOk());
  EXPECT_THAT((*native)->add_dir(dir_ / "missing"),
              HasCodeAndMessage(errc::watch_failed, HasSubstr("missing")));
  EXPECT_THAT((*native)->add_dir(dir_ / "file"), HasCode(errc::watch_failed));
  auto polling = open_polling_file_watcher(milliseconds(10));
  EXPECT_THAT(polling->add_dir(dir_ / "missing"), HasCode(errc::watch_failed));
  EXPECT_THAT(polling->add_dir(dir_ / "file"), HasCode(errc::watch_failed));
}

TEST_F(file_events_test, seam_makes_inotify_unavailable) {
  native_watch_api fake = current_native_watch_api();
  fake.init = [](int) {
    errno = EMFILE;
    return -1;
  };
  {
    scoped_native_watch_api_override use(fake);
    auto w = open_native_file_watcher();
    ASSERT_THAT(w, HasCodeAndMessage(errc::watch_failed, HasSubstr("max_user_instances")));
    EXPECT_EQ(w.error().os_text(), std::strerror(EMFILE));
  }
  EXPECT_THAT(open_native_file_watcher(), IsOk());  // restored
}

}  // namespace
}  // namespace livemod::os
