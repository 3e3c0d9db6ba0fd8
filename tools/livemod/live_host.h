// What `livemod run` and `livemod watch` share: host the modules of a directory in live_modules
// and swap each one as its file changes, printing one line per event.
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
};

// load_existing: load the modules already in `dir` first (run), or only those that change (watch).
int run_live_host(output& out, const live_host_options& options, bool load_existing);

// The options both verbs take.
void setup_live_host(CLI::App& app, live_host_options& options);

}  // namespace livemod::cli
