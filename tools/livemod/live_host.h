// What `livemod run` and `livemod watch` share: host the modules of a directory in live_modules
// and swap each one as its file changes, printing one line per event; and what `livemod
// rollback` and `livemod status` use to ask such a host over DIR's control channel.
#pragma once

#include <string>

#include "output.h"

namespace CLI {
class App;
}

namespace livemod::cli {

struct live_host_options {
  std::string dir;
  std::string interface_id;  // "" = each module's first manifest interface
  double for_seconds = 0;    // stop after this long; 0 = until SIGINT/SIGTERM or --until-events
  int until_events = 0;      // stop after this many swap events; 0 = no limit
  bool force = false;        // allow downgrades
  bool json = false;         // one JSON object a line
  bool no_control = false;   // do not open DIR's control channel
};

// load_existing: load the modules already in `dir` first (run), or only those that change (watch).
int run_live_host(output& out, const live_host_options& options, bool load_existing);

// The options both verbs take.
void setup_live_host(CLI::App& app, live_host_options& options);

// Sends `request` to the host serving `dir` and prints its answer: text lines on stdout, an
// "error ..." line on stderr as livemod's own error. Returns the exit status: 0, or 1 when the
// host answered with an error or cannot be reached (E541 control_failed).
int control_command(output& out, const std::string& dir, const std::string& request);

}  // namespace livemod::cli
