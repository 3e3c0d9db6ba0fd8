// The native watch backend on Linux (os/file_events.h): one inotify instance for every watched
// directory, and an eventfd so wake() interrupts a wait at once. Waiting is poll(2) on the two
// descriptors: no thread of its own and no busy polling.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "os/file_events.h"

namespace livemod::os {
namespace {

int system_init(int flags) { return ::inotify_init1(flags); }
int system_add_watch(int fd, const char* path, std::uint32_t mask) {
  return ::inotify_add_watch(fd, path, mask);
}

// Constant-initialised, so it is usable from other translation units' static initialisers.
constinit native_watch_api current_table{&system_init, &system_add_watch};

std::string os_text(int err) { return std::strerror(err); }

// What a module directory needs: the end of every write (close), every way a name can appear
// (rename in, create) or go (delete, rename out), and the directory's own end. IN_MODIFY is left
// out on purpose: a write in progress is not an event, its close is.
constexpr std::uint32_t k_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                 IN_MOVED_FROM | IN_DELETE_SELF | IN_ONLYDIR;

class fd_owner {
 public:
  explicit fd_owner(int fd = -1) noexcept : fd_(fd) {}
  fd_owner(const fd_owner&) = delete;
  fd_owner& operator=(const fd_owner&) = delete;
  ~fd_owner() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

class inotify_watcher final : public file_watcher {
 public:
  inotify_watcher(int inotify_fd, int wake_fd) noexcept : inotify_(inotify_fd), wake_(wake_fd) {}

  std::string_view backend() const noexcept override { return "inotify"; }

  result<void> add_dir(const std::filesystem::path& dir) override {
    const int wd = current_table.add_watch(inotify_.get(), dir.c_str(), k_mask);
    if (wd < 0) {
      const int err = errno;
      std::string remedy = "create the directory, or give one this user can read";
      if (err == ENOSPC) {
        remedy = "raise fs.inotify.max_user_watches (sysctl), or watch fewer directories";
      }
      return fail(error(errc::watch_failed, dir.string(),
                        "cannot watch the directory with inotify (" + os_text(err) + ")",
                        std::move(remedy))
                      .with_os_text(os_text(err)));
    }
    // The same directory added twice gets the same descriptor: one entry, one set of events.
    dirs_.insert_or_assign(wd, dir);
    return {};
  }

  result<void> wait(std::chrono::milliseconds timeout, std::vector<file_event>& out) override {
    std::array<pollfd, 2> fds{{{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}}};
    const long long limit = std::numeric_limits<int>::max();
    const int ms = timeout.count() < 0 ? -1 : static_cast<int>(std::min<long long>(timeout.count(), limit));
    const int n = ::poll(fds.data(), fds.size(), ms);
    if (n < 0) {
      if (errno == EINTR) return {};
      return fail(error(errc::watch_failed, "", "cannot wait for inotify events (" + os_text(errno) + ")")
                      .with_os_text(os_text(errno)));
    }
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      // Resets the counter; a failure only means another wait already consumed it.
      [[maybe_unused]] const ssize_t r = ::read(wake_.get(), &count, sizeof count);
    }
    if ((fds[0].revents & POLLIN) != 0) return drain(out);
    return {};
  }

  void wake() noexcept override {
    const std::uint64_t one = 1;
    // eventfd writes only fail when the counter would overflow, which still leaves it readable.
    [[maybe_unused]] const ssize_t r = ::write(wake_.get(), &one, sizeof one);
  }

 private:
  // Reads everything queued now, so a burst of events for one name reaches the watcher as one
  // batch it can coalesce. Bounded, so a writer faster than us cannot keep us here forever.
  result<void> drain(std::vector<file_event>& out) {
    alignas(inotify_event) std::array<char, 64 * 1024> buffer;
    for (int round = 0; round < 64; ++round) {
      const ssize_t n = ::read(inotify_.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return {};
        return fail(error(errc::watch_failed, "", "cannot read inotify events (" + os_text(errno) + ")")
                        .with_os_text(os_text(errno)));
      }
      if (n == 0) return {};
      parse(buffer.data(), static_cast<std::size_t>(n), out);
    }
    return {};
  }

  void parse(const char* data, std::size_t size, std::vector<file_event>& out) {
    std::size_t offset = 0;
    while (offset + sizeof(inotify_event) <= size) {
      inotify_event header;
      std::memcpy(&header, data + offset, sizeof header);
      const char* name_bytes = data + offset + sizeof(inotify_event);
      offset += sizeof(inotify_event) + header.len;
      if (offset > size) break;  // the kernel never splits an event; be safe anyway
      translate(header, std::string(name_bytes, ::strnlen(name_bytes, header.len)), out);
    }
  }

  void translate(const inotify_event& e, std::string name, std::vector<file_event>& out) {
    if ((e.mask & IN_Q_OVERFLOW) != 0) {
      out.push_back({file_event_kind::overflow, {}, {}});
      return;
    }
    auto dir = dirs_.find(e.wd);
    if (dir == dirs_.end()) return;  // IN_IGNORED after we reported the directory gone
    if ((e.mask & (IN_DELETE_SELF | IN_UNMOUNT | IN_IGNORED)) != 0) {
      out.push_back({file_event_kind::dir_gone, dir->second, {}});
      dirs_.erase(dir);
      return;
    }
    if ((e.mask & IN_ISDIR) != 0 || name.empty()) return;  // subdirectories are not modules
    file_event_kind kind;
    if ((e.mask & IN_CLOSE_WRITE) != 0) {
      kind = file_event_kind::written;
    } else if ((e.mask & IN_MOVED_TO) != 0) {
      kind = file_event_kind::moved_in;
    } else if ((e.mask & IN_CREATE) != 0) {
      kind = file_event_kind::created;
    } else if ((e.mask & (IN_DELETE | IN_MOVED_FROM)) != 0) {
      kind = file_event_kind::removed;
    } else {
      return;
    }
    out.push_back({kind, dir->second, std::move(name)});
  }

  fd_owner inotify_;
  fd_owner wake_;
  std::map<int, std::filesystem::path> dirs_;  // watch descriptor -> directory
};

}  // namespace

const native_watch_api& current_native_watch_api() noexcept { return current_table; }

scoped_native_watch_api_override::scoped_native_watch_api_override(
    const native_watch_api& replacement) noexcept
    : previous_(current_table) {
  current_table = replacement;
}

scoped_native_watch_api_override::~scoped_native_watch_api_override() { current_table = previous_; }

result<std::unique_ptr<file_watcher>> open_native_file_watcher() {
  const int fd = current_table.init(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string remedy = "watching falls back to polling";
    if (err == EMFILE) remedy = "raise fs.inotify.max_user_instances (sysctl), or close other watchers";
    return fail(error(errc::watch_failed, "", "inotify is unavailable (" + os_text(err) + ")",
                      std::move(remedy))
                    .with_os_text(os_text(err)));
  }
  fd_owner inotify(fd);
  fd_owner wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (wake.get() < 0) {
    const int err = errno;
    return fail(error(errc::watch_failed, "", "cannot create an eventfd (" + os_text(err) + ")",
                      "close some descriptors, or raise the process's limit (ulimit -n)")
                    .with_os_text(os_text(err)));
  }
  auto watcher = std::make_unique<inotify_watcher>(inotify.get(), wake.get());
  // The watcher owns both descriptors now.
  inotify.release();
  wake.release();
  return watcher;
}

}  // namespace livemod::os
