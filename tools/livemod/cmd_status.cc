// `livemod status DIR`: asks the host serving DIR what it hosts: each module's version, the
// versions kept for rollback, and its counters (control_command in cmd_rollback.cc).
#include <CLI/CLI.hpp>
#include <string>

#include "commands.h"
#include "live_host.h"

namespace livemod::cli {

namespace {
std::string status_dir;
}

void setup_status(CLI::App& app) {
  app.add_option("DIR", status_dir, "Directory a `livemod run` or `livemod watch` host serves")
      ->required()
      ->type_name("");
}

int run_status(output& out) { return control_command(out, status_dir, "status"); }

}  // namespace livemod::cli
