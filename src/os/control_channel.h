// The os layer's "control channel" primitive: a local, private, line-oriented request channel
// tied to a module directory, through which `livemod rollback DIR` and `livemod status DIR`
// reach the `livemod run DIR` host serving it (a Unix domain socket on Linux:
// src/os/linux/control_socket.cc). The transport only: one request line in, the answer text
// out, one request per connection. What the requests mean is the host's business.
//
//   auto server = livemod::os::control_server::open("/srv/modules");     // the host
//   while (auto r = (*server)->next(std::chrono::milliseconds(-1)); r && *r)
//     (void)(*r)->reply("answer to " + (*r)->line() + "\n");
//   ...
//   auto answer = livemod::os::control_call("/srv/modules", "status", std::chrono::seconds(30));
//
// Where the channel lives (docs/cli.md): `DIR/.livemod/control.sock`, in a directory of mode
// 0700 owned by this user; when DIR is not writable, `$XDG_RUNTIME_DIR/livemod/` (or
// `/tmp/livemod-<uid>/` without it), named after DIR's device and inode. A lock file beside the
// socket, held (flock) for the host's life, makes one host per directory: a socket left behind
// by a host that died is replaced by the next one, a live host is never displaced.
//
// Lifetime and threads: a control_server is used by one thread (next); stop() may be called from
// any thread. Destroying it removes the socket, the lock file and DIR/.livemod (when empty).
// control_call may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "livemod/error.h"

namespace livemod::os {

// The longest request line accepted, newline excluded.
inline constexpr std::size_t k_control_max_request = 4096;

// Where the control channel of one module directory lives.
struct control_paths {
  std::filesystem::path dir;  // the private directory holding socket and lock (mode 0700)
  std::string socket_name;    // "control.sock", or "dir-<dev>-<ino>.sock" in the runtime dir
  std::string lock_name;      // "control.lock", or "dir-<dev>-<ino>.lock"
  bool in_module_dir = false; // dir is DIR/.livemod (removed with the server when empty)

  std::filesystem::path socket() const { return dir / socket_name; }
};

// DIR/.livemod/control.sock. Pure: touches nothing.
control_paths module_dir_control_paths(const std::filesystem::path& module_dir);
// The per-user runtime place for a DIR this user cannot write: $XDG_RUNTIME_DIR/livemod (or
// /tmp/livemod-<uid>) / dir-<dev>-<ino>.sock. Errors: control_failed (DIR cannot be stat'ed).
result<control_paths> runtime_control_paths(const std::filesystem::path& module_dir);

// One accepted request: its line, and the connection to answer on. Move-only; closing it (the
// destructor) ends the answer.
class control_request {
 public:
  control_request(control_request&& other) noexcept;
  control_request& operator=(control_request&& other) noexcept;
  control_request(const control_request&) = delete;
  control_request& operator=(const control_request&) = delete;
  ~control_request();

  // The request line without its newline; empty when `problem` is set.
  const std::string& line() const noexcept { return line_; }
  // Set when the request could not be read: too long, not one line of text, sent too slowly,
  // or from another user (control_failed, with the cause). Answer it with the error.
  const std::optional<error>& problem() const noexcept { return problem_; }
  // Writes `text` to the client (which may have gone: then control_failed, and nothing else).
  result<void> reply(std::string_view text);

 private:
  friend class control_server;
  control_request(int fd, std::string line, std::optional<error> problem) noexcept;
  int fd_ = -1;
  std::string line_;
  std::optional<error> problem_;
};

class control_server {
 public:
  // Serves the control channel of `module_dir` (see the top of this file for where). Errors:
  // control_failed: another host holds the directory's lock (the cause names its pid), the
  // private directory is not private (another owner, group or world access, a symlink), or a
  // socket call failed (the OS text is kept).
  static result<std::unique_ptr<control_server>> open(const std::filesystem::path& module_dir);
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  // Waits up to `timeout` (negative: forever) for the next request and reads its line, giving
  // a client `read_timeout` to send it. std::nullopt on timeout, when a signal interrupted the
  // wait, and once stop() was called. Errors: control_failed when the listening socket fails.
  result<std::optional<control_request>> next(std::chrono::milliseconds timeout);
  // Makes next() return std::nullopt at once, the call in progress and every later one. Any
  // thread; async-signal-safe.
  void stop() noexcept;

  const control_paths& paths() const noexcept { return paths_; }

  // How long a client may take to send its line; tests shorten it.
  std::chrono::milliseconds read_timeout{2000};

 private:
  control_server(control_paths paths, int dir_fd, int lock_fd, int listen_fd, int wake_fd) noexcept;
  control_paths paths_;
  int dir_fd_, lock_fd_, listen_fd_, wake_fd_;
};

// Sends `request` (one line, no newline in it) to the host serving `module_dir` and returns
// everything it answered. Errors: control_failed: no host serves the directory (no socket, or
// one left behind by a host that ended), the socket's directory is not private, the host did
// not answer within `timeout`, or a socket call failed.
result<std::string> control_call(const std::filesystem::path& module_dir, std::string_view request,
                                 std::chrono::milliseconds timeout);

}  // namespace livemod::os
