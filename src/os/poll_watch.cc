// The portable half of the watch primitive (os/file_events.h): stat as an identity, directory
// listing, a read-only file for small preads, and the polling backend, which is what watching
// falls back to when the platform has no event-driven one (or it is out of watches).
//
// Only POSIX calls here, so any platform can use this file as it is.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "os/file_events.h"

namespace livemod::os {
namespace {

std::string os_text(int err) { return std::strerror(err); }

std::int64_t nanoseconds(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(t.tv_nsec);
}

file_identity identity_of(const struct stat& st) {
  file_identity id;
  id.device = static_cast<std::uint64_t>(st.st_dev);
  id.inode = static_cast<std::uint64_t>(st.st_ino);
  id.size = st.st_size > 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  id.mtime_ns = nanoseconds(st.st_mtim);
  id.ctime_ns = nanoseconds(st.st_ctim);
  id.regular = S_ISREG(st.st_mode);
  return id;
}

error file_error(const std::filesystem::path& path, const char* what, int err) {
  const std::string text = os_text(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return error(errc::file_not_found, path.string(), std::string(what) + ": no such file (" + text + ")")
          .with_os_text(text);
    case EACCES:
    case EPERM:
      return error(errc::permission_denied, path.string(),
                   std::string(what) + ": permission denied (" + text + ")",
                   "make the file and its directories readable by this user")
          .with_os_text(text);
    default:
      return error(errc::io_error, path.string(), std::string(what) + " failed (" + text + ")")
          .with_os_text(text);
  }
}

}  // namespace

std::string_view to_string(file_event_kind kind) noexcept {
  switch (kind) {
    case file_event_kind::written: return "written";
    case file_event_kind::moved_in: return "moved_in";
    case file_event_kind::created: return "created";
    case file_event_kind::changed: return "changed";
    case file_event_kind::removed: return "removed";
    case file_event_kind::overflow: return "overflow";
    case file_event_kind::dir_gone: return "dir_gone";
  }
  return "unknown";
}

result<file_identity> stat_identity(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(file_error(path, "stat", errno));
  return identity_of(st);
}

result<std::vector<std::string>> list_dir(const std::filesystem::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    if (err == ENOTDIR) {
      return fail(error(errc::not_a_regular_file, dir.string(), "not a directory")
                      .with_os_text(os_text(err)));
    }
    return fail(file_error(dir, "opendir", err));
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(d);
    if (entry == nullptr) break;
    const std::string_view name(entry->d_name);
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return fail(file_error(dir, "readdir", err));
  return names;
}

result<read_only_file> read_only_file::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail(file_error(path, "open", errno));
  return read_only_file(fd);
}

read_only_file::read_only_file(read_only_file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

read_only_file& read_only_file::operator=(read_only_file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

read_only_file::~read_only_file() {
  if (fd_ >= 0) ::close(fd_);
}

result<file_identity> read_only_file::identity() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return fail(file_error("", "fstat", errno));
  return identity_of(st);
}

result<std::size_t> read_only_file::read_at(std::uint64_t offset, std::span<std::byte> out) const {
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) return 0;
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done,
                              static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(file_error("", "pread", errno));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

namespace {

// Scans on its own schedule inside wait(): there is no thread of its own, so a watcher that is
// not waiting costs nothing.
class polling_watcher final : public file_watcher {
 public:
  explicit polling_watcher(std::chrono::milliseconds interval)
      : interval_(std::max(interval, std::chrono::milliseconds(1))),
        next_scan_(std::chrono::steady_clock::now() + interval_) {}

  std::string_view backend() const noexcept override { return "polling"; }

  result<void> add_dir(const std::filesystem::path& dir) override {
    auto names = list_dir(dir);
    if (!names) {
      return fail(error(errc::watch_failed, dir.string(),
                        "cannot watch the directory: " + names.error().cause(),
                        "create the directory, or give one this user can read")
                      .with_os_text(names.error().os_text()));
    }
    watched_dir& w = dirs_.emplace_back();
    w.path = dir;
    scan_into(w, *names, nullptr);
    return {};
  }

  result<void> wait(std::chrono::milliseconds timeout, std::vector<file_event>& out) override {
    using clock = std::chrono::steady_clock;
    const clock::time_point start = clock::now();
    const clock::time_point limit =
        timeout.count() < 0 ? clock::time_point::max() : start + timeout;
    {
      std::unique_lock lock(mutex_);
      const clock::time_point until = std::min(limit, next_scan_);
      cv_.wait_until(lock, until, [this] { return woken_; });
      if (woken_) {
        woken_ = false;
        return {};
      }
    }
    const clock::time_point now = clock::now();
    if (now < next_scan_) return {};
    scan_all(out);
    // Scheduled from the end of the scan, so a slow scan of a big directory never makes scans
    // run back to back.
    next_scan_ = clock::now() + interval_;
    return {};
  }

  void wake() noexcept override {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    cv_.notify_all();
  }

 private:
  struct watched_dir {
    std::filesystem::path path;
    std::map<std::string, file_identity> files;  // name -> identity at the last scan
    bool gone = false;
  };

  void scan_all(std::vector<file_event>& out) {
    for (watched_dir& w : dirs_) {
      if (w.gone) continue;
      auto names = list_dir(w.path);
      if (!names) {
        // The directory went away (or became unreadable): everything in it is gone for us.
        for (const auto& [name, id] : w.files) out.push_back({file_event_kind::removed, w.path, name});
        out.push_back({file_event_kind::dir_gone, w.path, {}});
        w.files.clear();
        w.gone = true;
        continue;
      }
      scan_into(w, *names, &out);
    }
  }

  // Updates `w` to what is in the directory now; with `out`, reports the differences.
  static void scan_into(watched_dir& w, const std::vector<std::string>& names,
                        std::vector<file_event>* out) {
    std::map<std::string, file_identity> now;
    for (const std::string& name : names) {
      auto id = stat_identity(w.path / name);
      if (!id) continue;  // removed between readdir and stat, or a dangling link: absent
      // Only regular files (and links to them): a subdirectory is not watched, and a device or
      // FIFO is never a module worth reporting.
      if (!id->regular) continue;
      now.emplace(name, *id);
    }
    if (out != nullptr) {
      for (const auto& [name, id] : w.files) {
        if (!now.contains(name)) out->push_back({file_event_kind::removed, w.path, name});
      }
      for (const auto& [name, id] : now) {
        auto old = w.files.find(name);
        if (old == w.files.end() || !(old->second == id)) {
          out->push_back({file_event_kind::changed, w.path, name});
        }
      }
    }
    w.files = std::move(now);
  }

  const std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point next_scan_;
  std::vector<watched_dir> dirs_;
  std::mutex mutex_;  // guards woken_ (wake() comes from other threads)
  std::condition_variable cv_;
  bool woken_ = false;
};

}  // namespace

std::unique_ptr<file_watcher> open_polling_file_watcher(std::chrono::milliseconds interval) {
  return std::make_unique<polling_watcher>(interval);
}

}  // namespace livemod::os
