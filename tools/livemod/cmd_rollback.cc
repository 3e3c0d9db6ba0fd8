// `livemod rollback DIR [MODULE]`: asks the `livemod run DIR` (or `watch`) host serving DIR to
// roll a module back to the previous version in its history, over DIR's control channel
// (os/control_channel.h), and prints the events that rollback produced. Also the client half
// every control verb shares (control_command).
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "commands.h"
#include "live_host.h"
#include "os/control_channel.h"

namespace livemod::cli {

namespace {

struct rollback_options {
  std::string dir;
  std::string module;
};
rollback_options rollback_opts;

// A rollback loads the previous version again (on_load may take its whole timeout) and waits for
// a grace period; a swap the host is running goes first.
constexpr std::chrono::seconds k_answer_timeout{60};

}  // namespace

int control_command(output& out, const std::string& dir, const std::string& request) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return out.fail(error(errc::file_not_found, dir, "is not a directory",
                          "give the directory the host serves"));
  auto answer = os::control_call(dir, request, k_answer_timeout);
  if (!answer) return out.fail(answer.error());
  if (answer->empty())
    return out.fail(error(errc::control_failed, dir,
                          "the host closed the connection without answering",
                          "it may be stopping; check that it runs"));
  int status = k_exit_ok;
  std::string_view rest = *answer;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.starts_with("error ")) {
      line.remove_prefix(6);
      out.err() << out.paint_err("livemod:", tone::bold) << ' ' << printable(line) << '\n';
      status = k_exit_failed;
    } else {
      out.out() << printable(line) << '\n';
    }
  }
  return status;
}

void setup_rollback(CLI::App& app) {
  app.add_option("DIR", rollback_opts.dir,
                 "Directory a `livemod run` or `livemod watch` host serves")
      ->required()
      ->type_name("");
  app.add_option("MODULE", rollback_opts.module,
                 "Module to roll back: its manifest name or file name (default: the only one)")
      ->type_name("");
}

int run_rollback(output& out) {
  const std::string& m = rollback_opts.module;
  if (m.find_first_of(" \t\r\n") != std::string::npos || (!m.empty() && m[0] == '-')) {
    out.err() << "livemod rollback: MODULE must be one word: a manifest name or a file name\n"
              << "run 'livemod rollback --help' for usage\n";
    return k_exit_usage;
  }
  return control_command(out, rollback_opts.dir, m.empty() ? "rollback" : "rollback " + m);
}

}  // namespace livemod::cli
