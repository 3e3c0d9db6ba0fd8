// The control channel on Linux (os/control_channel.h): a Unix domain stream socket in a private
// directory, a flock'ed lock file beside it for "one host per directory", an eventfd to stop a
// waiting server. No thread of its own.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "os/control_channel.h"

namespace livemod::os {
namespace {

using clock = std::chrono::steady_clock;

std::string os_text(int err) { return std::strerror(err); }

error control_error(const std::filesystem::path& file, std::string cause, std::string remedy,
                    int err = 0) {
  error e(errc::control_failed, file.string(), std::move(cause), std::move(remedy));
  if (err != 0) e.with_os_text(os_text(err));
  return e;
}

std::string start_remedy(const std::filesystem::path& module_dir) {
  return "start `livemod run " + module_dir.string() + "` (or `livemod watch`)";
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

class fd_owner {
 public:
  explicit fd_owner(int fd = -1) noexcept : fd_(fd) {}
  fd_owner(const fd_owner&) = delete;
  fd_owner& operator=(const fd_owner&) = delete;
  ~fd_owner() { close_fd(fd_); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd) noexcept {
    close_fd(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// Milliseconds left until `deadline` for poll(2): at least 0, at most INT_MAX.
int ms_left(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<long long>(left.count(), std::numeric_limits<int>::max()));
}

// sun_path holds 107 bytes and a NUL; a longer path is reached through the directory's
// descriptor (/proc/self/fd/N/name), which bind and connect resolve like any other path.
bool make_address(const control_paths& p, int dir_fd, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  std::string path = p.socket().string();
  if (path.size() >= sizeof addr.sun_path)
    path = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + p.socket_name;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// Opens the private directory without following a symlink, and checks that only this user can
// reach what is in it: anyone who could would be able to roll our modules back, or answer for
// the host.
result<int> open_private_dir(const std::filesystem::path& dir) {
  fd_owner fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    return fail(control_error(dir, "cannot open the control directory (" + os_text(err) + ")",
                              "remove it if it is not a directory; livemod makes it with mode 0700",
                              err));
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    return fail(control_error(dir, "cannot stat the control directory (" + os_text(err) + ")",
                              "check the file system", err));
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(control_error(dir,
                              "is not a private directory of this user (owner uid " +
                                  std::to_string(st.st_uid) + ", mode " + mode + ")",
                              "remove it; livemod makes it with mode 0700"));
  }
  return fd.release();
}

result<void> make_dir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return {};
  const int err = errno;
  return fail(control_error(dir, "cannot create the control directory (" + os_text(err) + ")",
                            "make the module directory writable, or set XDG_RUNTIME_DIR", err));
}

// The peer's user must be ours (or root): the 0700 directory already keeps others out, this
// also covers a socket passed on some other way.
bool peer_is_trusted(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == ::geteuid() || cred.uid == 0;
}

std::string read_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos ? "?" : pid;
}

// Takes the directory's lock for the host's life. A lock file unlinked by a host that was
// ending can be locked by us after another host made a new one: locking the file that is at
// the name, not just a file, is what the identity check is for.
result<int> take_lock(const control_paths& p, int dir_fd, const std::filesystem::path& module_dir) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    fd_owner fd(::openat(dir_fd, p.lock_name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                         0600));
    if (fd.get() < 0) {
      const int err = errno;
      return fail(control_error(p.dir / p.lock_name,
                                "cannot open the control lock (" + os_text(err) + ")",
                                "remove it; livemod recreates it", err));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK)
        return fail(control_error(module_dir,
                                  "another livemod host (pid " + read_pid(fd.get()) +
                                      ") is serving this directory",
                                  "stop that host first; `livemod rollback` and `livemod status` "
                                  "talk to it"));
      return fail(control_error(p.dir / p.lock_name,
                                "cannot lock the control lock (" + os_text(err) + ")",
                                "check the file system supports flock", err));
    }
    struct stat held{}, named{};
    if (::fstat(fd.get(), &held) == 0 &&
        ::fstatat(dir_fd, p.lock_name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd.get(), 0) == 0)
        (void)!::pwrite(fd.get(), pid.data(), pid.size(), 0);
      return fd.release();
    }
  }
  return fail(control_error(p.dir / p.lock_name, "the control lock kept being replaced",
                            "stop the other hosts starting on this directory"));
}

}  // namespace

control_paths module_dir_control_paths(const std::filesystem::path& module_dir) {
  control_paths p;
  p.dir = module_dir / ".livemod";
  p.socket_name = "control.sock";
  p.lock_name = "control.lock";
  p.in_module_dir = true;
  return p;
}

result<control_paths> runtime_control_paths(const std::filesystem::path& module_dir) {
  struct stat st{};
  if (::stat(module_dir.c_str(), &st) != 0) {
    const int err = errno;
    return fail(control_error(module_dir, "cannot stat the module directory (" + os_text(err) + ")",
                              "give the directory that holds the modules", err));
  }
  control_paths p;
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime && runtime[0] == '/')
    p.dir = std::filesystem::path(runtime) / "livemod";
  else
    p.dir = "/tmp/livemod-" + std::to_string(::geteuid());
  const std::string key = "dir-" + std::to_string(static_cast<std::uint64_t>(st.st_dev)) + "-" +
                          std::to_string(static_cast<std::uint64_t>(st.st_ino));
  p.socket_name = key + ".sock";
  p.lock_name = key + ".lock";
  return p;
}

// ---- control_request

control_request::control_request(int fd, std::string line, std::optional<error> problem) noexcept
    : fd_(fd), line_(std::move(line)), problem_(std::move(problem)) {}
control_request::control_request(control_request&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      line_(std::move(other.line_)),
      problem_(std::move(other.problem_)) {}
control_request& control_request::operator=(control_request&& other) noexcept {
  if (this != &other) {
    close_fd(fd_);
    fd_ = std::exchange(other.fd_, -1);
    line_ = std::move(other.line_);
    problem_ = std::move(other.problem_);
  }
  return *this;
}
control_request::~control_request() { close_fd(fd_); }

result<void> control_request::reply(std::string_view text) {
  while (!text.empty()) {
    // MSG_NOSIGNAL: a client that hung up is an error here, not a SIGPIPE for the host.
    const ssize_t n = ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      return fail(control_error("", "cannot answer the request (" + os_text(err) + ")",
                                "the client went away", err));
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// ---- control_server

control_server::control_server(control_paths paths, int dir_fd, int lock_fd, int listen_fd,
                               int wake_fd) noexcept
    : paths_(std::move(paths)),
      dir_fd_(dir_fd),
      lock_fd_(lock_fd),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd) {}

result<std::unique_ptr<control_server>> control_server::open(
    const std::filesystem::path& module_dir) {
  struct stat st{};
  if (::stat(module_dir.c_str(), &st) != 0) {
    const int err = errno;
    return fail(control_error(module_dir, "cannot stat the module directory (" + os_text(err) + ")",
                              "give the directory that holds the modules", err));
  }
  if (!S_ISDIR(st.st_mode))
    return fail(control_error(module_dir, "is not a directory",
                              "give the directory that holds the modules"));
  // DIR/.livemod when we may write DIR; the runtime dir when we may not.
  control_paths paths = module_dir_control_paths(module_dir);
  if (::mkdir(paths.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    if (err != EACCES && err != EPERM && err != EROFS)
      return fail(control_error(paths.dir,
                                "cannot create the control directory (" + os_text(err) + ")",
                                "make the module directory writable", err));
    auto runtime = runtime_control_paths(module_dir);
    if (!runtime) return fail(runtime.error());
    paths = std::move(*runtime);
    if (auto made = make_dir(paths.dir); !made) return fail(made.error());
  }
  auto dir = open_private_dir(paths.dir);
  if (!dir) return fail(dir.error());
  fd_owner dir_fd(*dir);
  auto lock = take_lock(paths, dir_fd.get(), module_dir);
  if (!lock) return fail(lock.error());
  fd_owner lock_fd(*lock);

  // We hold the lock: a socket at the name was left by a host that died.
  if (::unlinkat(dir_fd.get(), paths.socket_name.c_str(), 0) != 0 && errno != ENOENT) {
    const int err = errno;
    return fail(control_error(paths.socket(),
                              "cannot remove the control socket left by an earlier host (" +
                                  os_text(err) + ")",
                              "remove it by hand", err));
  }
  fd_owner sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) {
    const int err = errno;
    return fail(control_error(paths.socket(), "cannot create a socket (" + os_text(err) + ")",
                              "raise the open file limit", err));
  }
  sockaddr_un addr{};
  if (!make_address(paths, dir_fd.get(), addr))
    return fail(control_error(paths.socket(), "the socket path is too long",
                              "host a directory with a shorter path"));
  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(sock.get(), 16) != 0) {
    const int err = errno;
    return fail(control_error(paths.socket(), "cannot listen on the control socket (" +
                                                  os_text(err) + ")",
                              "check the directory is on a local file system", err));
  }
  fd_owner wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) {
    const int err = errno;
    ::unlinkat(dir_fd.get(), paths.socket_name.c_str(), 0);
    return fail(control_error(paths.socket(), "cannot create an eventfd (" + os_text(err) + ")",
                              "raise the open file limit", err));
  }
  return std::unique_ptr<control_server>(new control_server(
      std::move(paths), dir_fd.release(), lock_fd.release(), sock.release(), wake.release()));
}

control_server::~control_server() {
  close_fd(listen_fd_);
  close_fd(wake_fd_);
  ::unlinkat(dir_fd_, paths_.socket_name.c_str(), 0);
  // Unlinked while held: a host that opened it meanwhile sees the name moved on and retries.
  ::unlinkat(dir_fd_, paths_.lock_name.c_str(), 0);
  close_fd(lock_fd_);
  close_fd(dir_fd_);
  if (paths_.in_module_dir) ::rmdir(paths_.dir.c_str());  // only when empty
}

void control_server::stop() noexcept {
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

result<std::optional<control_request>> control_server::next(std::chrono::milliseconds timeout) {
  std::array<pollfd, 2> fds{{{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}}};
  const int ms = timeout.count() < 0
                     ? -1
                     : static_cast<int>(std::min<long long>(timeout.count(),
                                                            std::numeric_limits<int>::max()));
  const int n = ::poll(fds.data(), fds.size(), ms);
  if (n < 0 && errno != EINTR) {
    const int err = errno;
    return fail(control_error(paths_.socket(), "cannot wait for requests (" + os_text(err) + ")",
                              "restart the host", err));
  }
  // The eventfd is never read: once stopped, a server stays stopped.
  if (n <= 0 || (fds[0].revents & POLLIN) != 0) return std::optional<control_request>();
  if ((fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
    return fail(control_error(paths_.socket(), "the control socket failed", "restart the host"));
  fd_owner client(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC));
  if (client.get() < 0) return std::optional<control_request>();  // the client gave up already

  auto rejected = [&](std::string cause) {
    return std::optional<control_request>(control_request(
        client.release(), "",
        control_error(paths_.socket(), std::move(cause),
                      "send one line of text, at most " + std::to_string(k_control_max_request) +
                          " bytes, ending with a newline")));
  };
  if (!peer_is_trusted(client.get()))
    return std::optional<control_request>(control_request(
        client.release(), "",
        control_error(paths_.socket(), "the request came from another user",
                      "ask the user who runs the host")));

  std::string buf;
  const auto deadline = clock::now() + read_timeout;
  for (;;) {
    if (const auto nl = buf.find('\n'); nl != std::string::npos) {
      buf.resize(nl);
      break;
    }
    if (buf.size() > k_control_max_request)
      return rejected("the request is longer than " + std::to_string(k_control_max_request) +
                      " bytes");
    pollfd p{client.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0)
      return rejected("no request line within " + std::to_string(read_timeout.count()) + " ms");
    char chunk[512];
    const ssize_t got = ::read(client.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return rejected("cannot read the request (" + os_text(errno) + ")");
    if (got == 0) {
      if (buf.empty()) return rejected("the client sent nothing");
      break;  // a last line without its newline
    }
    buf.append(chunk, static_cast<std::size_t>(got));
  }
  if (!buf.empty() && buf.back() == '\r') buf.pop_back();
  if (buf.size() > k_control_max_request)
    return rejected("the request is longer than " + std::to_string(k_control_max_request) +
                    " bytes");
  for (const char c : buf)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == '\x7f')
      return rejected("the request is not a line of text (control byte 0x" +
                      [](unsigned v) {
                        char hex[3];
                        std::snprintf(hex, sizeof hex, "%02x", v);
                        return std::string(hex);
                      }(static_cast<unsigned char>(c)) +
                      ")");
  return std::optional<control_request>(control_request(client.release(), std::move(buf), {}));
}

// ---- the client

result<std::string> control_call(const std::filesystem::path& module_dir, std::string_view request,
                                 std::chrono::milliseconds timeout) {
  // The host is where its socket is: DIR/.livemod first, then the runtime dir.
  std::optional<control_paths> found;
  std::vector<control_paths> tried{module_dir_control_paths(module_dir)};
  if (auto runtime = runtime_control_paths(module_dir))
    tried.push_back(std::move(*runtime));
  else
    return fail(runtime.error());
  for (const control_paths& p : tried) {
    struct stat st{};
    if (::lstat(p.socket().c_str(), &st) == 0) {
      found = p;
      break;
    }
  }
  if (!found)
    return fail(control_error(module_dir,
                              "no livemod host is serving this directory (it has no control "
                              "socket)",
                              start_remedy(module_dir)));
  auto dir = open_private_dir(found->dir);
  if (!dir) return fail(dir.error());
  fd_owner dir_fd(*dir);
  fd_owner sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) {
    const int err = errno;
    return fail(control_error(module_dir, "cannot create a socket (" + os_text(err) + ")",
                              "raise the open file limit", err));
  }
  sockaddr_un addr{};
  if (!make_address(*found, dir_fd.get(), addr))
    return fail(control_error(found->socket(), "the socket path is too long",
                              "host a directory with a shorter path"));
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == ECONNREFUSED || err == ENOENT)
      return fail(control_error(module_dir,
                                "no livemod host is serving this directory (the control socket " +
                                    found->socket().string() + " was left by a host that ended)",
                                start_remedy(module_dir) + "; it replaces the socket",
                                err));
    return fail(control_error(found->socket(), "cannot connect to the host (" + os_text(err) + ")",
                              "check that the host is running", err));
  }
  if (!peer_is_trusted(sock.get()))
    return fail(control_error(found->socket(), "the host answering is run by another user",
                              "remove the socket; only this user's host may serve it"));

  std::string out(request);
  out += '\n';
  for (std::string_view rest = out; !rest.empty();) {
    const ssize_t n = ::send(sock.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      return fail(control_error(found->socket(), "cannot send the request (" + os_text(err) + ")",
                                "check that the host is running", err));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  ::shutdown(sock.get(), SHUT_WR);

  std::string answer;
  const auto deadline = clock::now() + timeout;
  for (;;) {
    pollfd p{sock.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0)
      return fail(control_error(module_dir,
                                "the host did not answer within " +
                                    std::to_string(timeout.count()) + " ms",
                                "it may be busy with a swap; try again"));
    char chunk[4096];
    const ssize_t got = ::read(sock.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      return fail(control_error(found->socket(), "cannot read the answer (" + os_text(err) + ")",
                                "check that the host is running", err));
    }
    if (got == 0) break;
    answer.append(chunk, static_cast<std::size_t>(got));
  }
  return answer;
}

}  // namespace livemod::os
