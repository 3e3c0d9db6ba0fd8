// `livemod watch DIR`: like `livemod run`, but loads a module only when its file is written or
// renamed into DIR (nothing that is already there), then swaps it on each change.
#include <CLI/CLI.hpp>

#include "commands.h"
#include "live_host.h"

namespace livemod::cli {

namespace {
live_host_options watch_opts;
}

void setup_watch(CLI::App& app) { setup_live_host(app, watch_opts); }
int run_watch(output& out) { return run_live_host(out, watch_opts, false); }

}  // namespace livemod::cli
