// The livemod CLI: parses the command line with CLI11, runs one verb from the command table,
// and turns every failure into an exit code (docs/cli.md). No exception leaves main.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "output.h"

#ifndef LIVEMOD_VERSION
#define LIVEMOD_VERSION "unknown"
#endif

namespace livemod::cli {

namespace {

// Adding a verb: write cmd_<verb>.cc with its setup and run, declare them in commands.h, add a
// row here.
constexpr command k_commands[] = {
    {"inspect", "Show what a shared object is: ELF facts, needs, pins and manifest", setup_inspect,
     run_inspect},
    {"check", "Check that a module can be loaded into a host, without loading it", setup_check,
     run_check},
    {"deps", "Show the dependency graph, load order and init order, without loading", setup_deps,
     run_deps},
    {"load", "Load modules with their dependencies, time each step, unload them", setup_load,
     run_load},
    {"run", "Host the modules of a directory and hot-swap each one as its file changes",
     setup_run, run_run},
    {"watch", "Like run, but load a module only once its file is written into the directory",
     setup_watch, run_watch},
    {"rollback", "Ask the host serving a directory to roll a module back to its previous version",
     setup_rollback, run_rollback},
    {"status", "Ask the host serving a directory what it hosts and what it keeps for rollback",
     setup_status, run_status},
};

constexpr std::string_view k_exit_status_help =
    "Exit status:\n"
    "  0  success: the file was read, the module is compatible\n"
    "  1  a bad file, an invalid manifest, an incompatible module, or (rollback, status)\n"
    "     no host serving the directory, or its error\n"
    "  2  usage error\n"
    "  3  internal error, or the output could not be written\n"
    "\n"
    "Run 'livemod COMMAND --help' for a command's options; docs/cli.md has the JSON schemas.";

// Levenshtein distance, for "did you mean" on a mistyped verb.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// CLI11's messages start with a capital ("The following argument was not expected"); ours are
// lowercase, as the library's are. Leave acronyms and option names ("FILE is required") alone.
std::string lowercase_first(std::string s) {
  if (s.size() > 1 && std::isupper(static_cast<unsigned char>(s[0])) &&
      std::islower(static_cast<unsigned char>(s[1])))
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

int usage_error(output& out, std::string_view where, std::string_view message) {
  out.err() << out.paint_err(std::string(where) + ":", tone::bold) << ' ' << message << '\n'
            << "run '" << where << " --help' for usage\n";
  return k_exit_usage;
}

int unknown_command(output& out, const std::string& word) {
  std::string message = "unknown command '" + printable(word) + "'";
  std::string_view best;
  std::size_t best_distance = 3;  // further than two edits away is not a typo
  std::string names;
  for (const auto& c : commands()) {
    const std::size_t d = edit_distance(word, c.name);
    if (d < best_distance) {
      best_distance = d;
      best = c.name;
    }
    names += (names.empty() ? "" : ", ") + std::string(c.name);
  }
  if (!best.empty())
    message += "; did you mean '" + std::string(best) + "'?";
  else
    message += " (commands: " + names + ")";
  return usage_error(out, "livemod", message);
}

// Parsing stopped without a verb: a stray word or option, or nothing at all.
int no_command(output& out, const CLI::App& app) {
  if (const auto extras = app.remaining(); !extras.empty()) {
    const std::string& first = extras.front();
    if (first.size() > 1 && first[0] == '-')
      return usage_error(out, "livemod", "unknown option '" + printable(first) + "'");
    return unknown_command(out, first);
  }
  // What the user needs is the list of verbs; but nothing was done, so it is a usage error and
  // the help goes to stderr (stdout stays clean for pipes).
  out.err() << app.help();
  return k_exit_usage;
}

int run(int argc, char** argv) {
  output out(std::cout, std::cerr, wants_color(1), wants_color(2));

  CLI::App app(
      "Inspect, check, order and load livemod modules (hot-swappable shared libraries).",
      "livemod");
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.set_version_flag("--version", "livemod " LIVEMOD_VERSION, "Print the version and exit");
  std::vector<CLI::App*> subs;
  for (const auto& c : commands()) {
    CLI::App* sub = app.add_subcommand(std::string(c.name), std::string(c.summary));
    sub->group("Commands");
    c.setup(*sub);
    subs.push_back(sub);
  }
  // Set after the subcommands exist, so that they do not inherit them: a verb rejects stray
  // arguments itself, while the top level keeps them to name an unknown verb or option.
  app.require_subcommand(1);
  app.allow_extras();
  app.footer(std::string(k_exit_status_help));
  // The verbs share this formatter: say "COMMAND", as the footer and docs do.
  app.get_formatter()->label("SUBCOMMAND", "COMMAND");
  app.get_formatter()->label("REQUIRED", "(required)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with exit code 0; CLI11 prints them.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      app.exit(e, out.out(), out.err());
      return k_exit_ok;
    }
    const auto parsed = app.get_subcommands();
    if (parsed.empty()) return no_command(out, app);
    const CLI::App& sub = *parsed.front();
    const std::string where = "livemod " + sub.get_name();
    // CLI11 says "the following argument was not expected"; name the kind of mistake.
    if (const auto extras = sub.remaining();
        dynamic_cast<const CLI::ExtrasError*>(&e) && !extras.empty()) {
      const std::string& first = extras.front();
      const bool option = first.size() > 1 && first[0] == '-';
      return usage_error(
          out, where,
          (option ? "unknown option '" : "unexpected argument '") + printable(first) + "'");
    }
    return usage_error(out, where, lowercase_first(e.what()));
  }

  // Words the top level did not know, before the verb ("livemod --bogus inspect x").
  if (!app.remaining().empty()) return no_command(out, app);
  for (std::size_t i = 0; i < subs.size(); ++i)
    if (subs[i]->parsed()) return commands()[i].run(out);
  return no_command(out, app);  // not reached: require_subcommand(1) throws first
}

}  // namespace

std::span<const command> commands() { return k_commands; }

void add_module_path_option(CLI::App& app, std::vector<std::string>& paths) {
  app.add_option("--path", paths,
                 "A module directory of the host, searched before LIVEMOD_PATH (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
}

}  // namespace livemod::cli

int main(int argc, char** argv) {
  using livemod::cli::k_exit_internal;
  int status = k_exit_internal;
  try {
    status = livemod::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "livemod: internal error: " << e.what() << "; please report it\n";
    return k_exit_internal;
  } catch (...) {
    std::cerr << "livemod: internal error: unknown exception; please report it\n";
    return k_exit_internal;
  }
  // A full disk or a closed pipe must not look like success.
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "livemod: cannot write to stdout\n";
    return k_exit_internal;
  }
  return status;
}
