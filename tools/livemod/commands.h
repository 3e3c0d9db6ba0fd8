// The command table of the livemod CLI. Each verb lives in its own cmd_<verb>.cc and is one row
// of `commands()` in main.cc: a name, a one-line summary, a setup function that declares its
// options on the CLI11 subcommand, and a run function that does the work after parsing.
//
// A verb keeps its parsed options in a file-local struct that setup binds and run reads: the
// process runs exactly one verb once, so the table stays a plain array of function pointers.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "output.h"

namespace CLI {
class App;
}

namespace livemod::cli {

// Exit codes, documented in docs/cli.md and in `livemod --help`.
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failed = 1;    // bad file, invalid manifest, incompatible module
inline constexpr int k_exit_usage = 2;     // the command line could not be understood
inline constexpr int k_exit_internal = 3;  // a bug in livemod, or its output could not be written

struct command {
  std::string_view name;
  std::string_view summary;
  void (*setup)(CLI::App& app);
  int (*run)(output& out);
};

// The table, in the order `livemod --help` lists it.
std::span<const command> commands();

// `--path DIR` (repeatable): a module directory of the host, searched before LIVEMOD_PATH. The
// verbs that resolve module names (deps, load) share its spelling and help text.
void add_module_path_option(CLI::App& app, std::vector<std::string>& paths);

void setup_inspect(CLI::App& app);
int run_inspect(output& out);

void setup_check(CLI::App& app);
int run_check(output& out);

void setup_deps(CLI::App& app);
int run_deps(output& out);

void setup_load(CLI::App& app);
int run_load(output& out);

void setup_run(CLI::App& app);
int run_run(output& out);

void setup_watch(CLI::App& app);
int run_watch(output& out);

void setup_rollback(CLI::App& app);
int run_rollback(output& out);

void setup_status(CLI::App& app);
int run_status(output& out);

}  // namespace livemod::cli
