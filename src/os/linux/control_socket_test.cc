// The control channel seen directly: a request and its answer, where the socket lives, one host
// per directory, a socket left by a dead host, requests that are not one line of text, and
// directories that are not private.
#include "os/control_channel.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/matchers.h"
#include "testing/temp_dir.h"

namespace livemod::os {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;
using ::testing::HasSubstr;
using ::testing::Optional;

// Generous: the machine is shared. Only a failing test waits this long.
constexpr milliseconds k_patience{10000};

class ControlChannelTest : public ::testing::Test {
 protected:

  // Serves one request on a thread: answers `reply`, or the problem's description.
  std::future<std::string> serve_one(control_server& server, std::string reply) {
    return std::async(std::launch::async, [&server, reply] {
      auto r = server.next(k_patience);
      if (!r || !*r) return std::string("<no request>");
      control_request& req = **r;
      if (req.problem()) {
        (void)req.reply("error " + req.problem()->describe() + "\n");
        return "problem: " + req.problem()->cause();
      }
      (void)req.reply(reply);
      return req.line();
    });
  }

  testing_support::temp_dir tmp_;
  fs::path dir_ = tmp_.path();
};

// Connects to `socket` and sends `bytes` as they are, then reads the answer to the end.
std::string raw_call(const fs::path& socket, const std::string& bytes, bool close_write = true) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  if (!bytes.empty()) (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (close_write) ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[256];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return answer;
}

TEST_F(ControlChannelTest, AnswersOneRequestInAPrivateDirectoryOfTheModuleDir) {
  auto server = control_server::open(dir_);
  ASSERT_THAT(server, IsOk());
  const control_paths& p = (*server)->paths();
  EXPECT_EQ(p.socket(), dir_ / ".livemod" / "control.sock");
  EXPECT_TRUE(p.in_module_dir);
  struct stat st{};
  ASSERT_EQ(::stat(p.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(fs::is_socket(p.socket()));

  auto served = serve_one(**server, "line one\nline two\n");
  auto answer = control_call(dir_, "status", k_patience);
  ASSERT_THAT(answer, IsOk());
  EXPECT_EQ(*answer, "line one\nline two\n");
  EXPECT_EQ(served.get(), "status");
}

TEST_F(ControlChannelTest, RemovesItsSocketLockAndDirectoryWhenDestroyed) {
  {
    auto server = control_server::open(dir_);
    ASSERT_THAT(server, IsOk());
  }
  EXPECT_FALSE(fs::exists(dir_ / ".livemod"));
  auto again = control_server::open(dir_);
  EXPECT_THAT(again, IsOk());
}

TEST_F(ControlChannelTest, NoHostIsAnErrorThatSaysHowToStartOne) {
  EXPECT_THAT(control_call(dir_, "status", k_patience),
              HasCodeAndMessage(errc::control_failed,
                                HasSubstr("no livemod host is serving this directory")));
  EXPECT_THAT(control_call(dir_ / "missing", "status", k_patience), HasCode(errc::control_failed));
}

TEST_F(ControlChannelTest, ASecondHostForTheSameDirectoryIsRefusedAndNamesTheFirst) {
  auto first = control_server::open(dir_);
  ASSERT_THAT(first, IsOk());
  const std::string pid = std::to_string(::getpid());
  EXPECT_THAT(control_server::open(dir_),
              HasCodeAndMessage(errc::control_failed,
                                HasSubstr("another livemod host (pid " + pid +
                                          ") is serving this directory")));
  // The first one still answers.
  auto served = serve_one(**first, "still here\n");
  EXPECT_THAT(control_call(dir_, "status", k_patience), Optional(std::string("still here\n")));
  served.get();
}

TEST_F(ControlChannelTest, ASocketLeftByADeadHostIsReportedThenReplaced) {
  // What a killed host leaves: the directory and a socket nobody listens on (its lock went with
  // its process).
  const fs::path private_dir = dir_ / ".livemod";
  ASSERT_EQ(::mkdir(private_dir.c_str(), 0700), 0);
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = (private_dir / "control.sock").string();
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  EXPECT_THAT(control_call(dir_, "status", k_patience),
              HasCodeAndMessage(errc::control_failed, HasSubstr("was left by a host that ended")));

  auto server = control_server::open(dir_);
  ASSERT_THAT(server, IsOk());
  auto served = serve_one(**server, "fresh\n");
  EXPECT_THAT(control_call(dir_, "status", k_patience), Optional(std::string("fresh\n")));
  served.get();
}

TEST_F(ControlChannelTest, RequestsThatAreNotOneLineOfTextAreProblemsNotRequests) {
  auto server = control_server::open(dir_);
  ASSERT_THAT(server, IsOk());
  const fs::path socket = (*server)->paths().socket();
  (*server)->read_timeout = milliseconds(200);

  struct one_case {
    std::string bytes;
    bool close_write;
    std::string expect;  // the line, or "problem: <cause substring>"
  };
  const one_case cases[] = {
      {"rollback svc\r\n", true, "rollback svc"},           // CRLF
      {"status", true, "status"},                           // a last line without its newline
      {"status\nignored\n", true, "status"},                // one request per connection
      {"roll\x01" "back\n", true, "problem: not a line of text (control byte 0x01)"},
      {std::string("a\0b\n", 4), true, "problem: not a line of text (control byte 0x00)"},
      {std::string(k_control_max_request + 10, 'x') + "\n", true, "problem: longer than 4096"},
      {"", true, "problem: the client sent nothing"},
      {"stat", false, "problem: no request line within 200 ms"},  // says part, then nothing
  };
  for (const one_case& c : cases) {
    auto served = serve_one(**server, "ok\n");
    const std::string answer = raw_call(socket, c.bytes, c.close_write);
    const std::string got = served.get();
    if (c.expect.starts_with("problem: ")) {
      EXPECT_THAT(got, HasSubstr(c.expect.substr(9))) << "for " << c.bytes.substr(0, 20);
      EXPECT_THAT(answer, HasSubstr("error E541 control_failed"));
    } else {
      EXPECT_EQ(got, c.expect);
      EXPECT_EQ(answer, "ok\n");
    }
  }
}

TEST_F(ControlChannelTest, StopEndsAWaitAtOnceAndEveryLaterOne) {
  auto server = control_server::open(dir_);
  ASSERT_THAT(server, IsOk());
  auto waiting = std::async(std::launch::async, [&] { return (*server)->next(milliseconds(-1)); });
  std::this_thread::sleep_for(milliseconds(20));
  (*server)->stop();
  auto r = waiting.get();
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->has_value());
  auto later = (*server)->next(milliseconds(-1));
  ASSERT_THAT(later, IsOk());
  EXPECT_FALSE(later->has_value());
}

TEST_F(ControlChannelTest, ATimeoutWithoutRequestsIsNoRequest) {
  auto server = control_server::open(dir_);
  ASSERT_THAT(server, IsOk());
  auto r = (*server)->next(milliseconds(10));
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->has_value());
}

TEST_F(ControlChannelTest, ADirectoryPathLongerThanASocketAddressStillWorks) {
  fs::path deep = dir_;
  while (deep.string().size() < 200) deep /= "a-rather-long-directory-name";
  fs::create_directories(deep);
  auto server = control_server::open(deep);
  ASSERT_THAT(server, IsOk());
  EXPECT_GT((*server)->paths().socket().string().size(), sizeof(sockaddr_un{}.sun_path));
  auto served = serve_one(**server, "deep\n");
  EXPECT_THAT(control_call(deep, "status", k_patience), Optional(std::string("deep\n")));
  served.get();
}

TEST_F(ControlChannelTest, AControlDirectoryOthersCanReachIsRefusedByHostAndClient) {
  const fs::path private_dir = dir_ / ".livemod";
  ASSERT_EQ(::mkdir(private_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(private_dir.c_str(), 0755), 0);
  EXPECT_THAT(control_server::open(dir_),
              HasCodeAndMessage(errc::control_failed,
                                HasSubstr("is not a private directory of this user")));
  { std::ofstream(private_dir / "control.sock") << ""; }
  EXPECT_THAT(control_call(dir_, "status", k_patience),
              HasCodeAndMessage(errc::control_failed,
                                HasSubstr("is not a private directory of this user")));
}

TEST_F(ControlChannelTest, ASymlinkedControlDirectoryIsRefused) {
  const fs::path elsewhere = dir_ / "elsewhere";
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0700), 0);
  fs::create_directory_symlink(elsewhere, dir_ / ".livemod");
  EXPECT_THAT(control_server::open(dir_), HasCode(errc::control_failed));
  EXPECT_FALSE(fs::exists(elsewhere / "control.sock"));
}

TEST_F(ControlChannelTest, TheRuntimePlaceIsKeyedByTheDirectorysIdentity) {
  const char* saved = std::getenv("XDG_RUNTIME_DIR");
  const std::optional<std::string> old = saved ? std::optional<std::string>(saved) : std::nullopt;
  ::setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
  auto p = runtime_control_paths(dir_);
  if (old) ::setenv("XDG_RUNTIME_DIR", old->c_str(), 1); else ::unsetenv("XDG_RUNTIME_DIR");
  ASSERT_THAT(p, IsOk());
  struct stat st{};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  const std::string key = "dir-" + std::to_string(static_cast<std::uint64_t>(st.st_dev)) + "-" +
                          std::to_string(static_cast<std::uint64_t>(st.st_ino));
  EXPECT_EQ(p->dir, fs::path("/run/user/1234/livemod"));
  EXPECT_EQ(p->socket_name, key + ".sock");
  EXPECT_EQ(p->lock_name, key + ".lock");
  EXPECT_FALSE(p->in_module_dir);
  EXPECT_THAT(runtime_control_paths(dir_ / "missing"), HasCode(errc::control_failed));
}

}  // namespace
}  // namespace livemod::os
