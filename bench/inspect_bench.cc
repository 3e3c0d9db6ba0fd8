// How fast livemod inspects shared objects compared with what a script would do: run readelf
// on each file. The three ways are timed in interleaved rounds (livemod, readelf per file,
// readelf over all files at once), so that drift on a shared machine hits each of them alike,
// and the median round of each is reported with the ratios.
//
//   livemod_inspect_bench [--dir /usr/lib/x86_64-linux-gnu] [--rounds 5]
//
// readelf runs as `readelf -d -V --dyn-syms -W <file>` with its output sent to /dev/null:
// the same facts read_image gathers (dynamic section, versions, dynamic symbols).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "livemod/image.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

bool is_elf(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "\x7f" "ELF", 4) == 0;
}

// Regular ELF files whose name says shared object; symlinks (other names for them) skipped.
std::vector<fs::path> shared_objects(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(
           dir, fs::directory_options::skip_permission_denied, ec)) {
    const std::string name = e.path().filename().string();
    const bool so = name.ends_with(".so") || name.find(".so.") != std::string::npos;
    if (so && !e.is_symlink(ec) && e.is_regular_file(ec) && is_elf(e.path())) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs argv with stdout and stderr on /dev/null; its exit status, or -1.
int run_quietly(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = "/usr/lib/x86_64-linux-gnu";
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
  }
  const std::vector<fs::path> files = shared_objects(dir);
  if (files.empty()) {
    std::fprintf(stderr, "%s: no shared objects found\n", dir.c_str());
    return 1;
  }
  const std::vector<std::string> readelf = {"readelf", "-d", "-V", "--dyn-syms", "-W"};
  std::vector<std::string> readelf_all = readelf;
  for (const fs::path& p : files) readelf_all.push_back(p.string());

  std::vector<double> t_livemod, t_per_file, t_one;
  std::size_t failures = 0;
  std::size_t symbols = 0;
  for (int r = 0; r < rounds; ++r) {
    auto start = clock_type::now();
    failures = 0;
    symbols = 0;
    for (const fs::path& p : files) {
      auto img = livemod::read_image(p);
      if (img) {
        symbols += img->symbols.size();
      } else {
        ++failures;
      }
    }
    t_livemod.push_back(seconds_since(start));

    start = clock_type::now();
    for (const fs::path& p : files) {
      std::vector<std::string> args = readelf;
      args.push_back(p.string());
      run_quietly(args);
    }
    t_per_file.push_back(seconds_since(start));

    start = clock_type::now();
    run_quietly(readelf_all);
    t_one.push_back(seconds_since(start));
  }

  const double n = static_cast<double>(files.size());
  const double livemod_rate = n / median(t_livemod);
  const double per_file_rate = n / median(t_per_file);
  const double one_rate = n / median(t_one);
  std::printf("files: %zu shared objects under %s (%zu dynamic symbols, %zu read errors)\n",
              files.size(), dir.c_str(), symbols, failures);
  std::printf("rounds: %d, median round reported\n", rounds);
  std::printf("%-44s %10.0f files/s  (%.3f s per round)\n", "livemod read_image, one process",
              livemod_rate, median(t_livemod));
  std::printf("%-44s %10.0f files/s  (%.3f s per round)\n", "readelf -d -V --dyn-syms, one per file",
              per_file_rate, median(t_per_file));
  std::printf("%-44s %10.0f files/s  (%.3f s per round)\n", "readelf -d -V --dyn-syms, all in one",
              one_rate, median(t_one));
  std::printf("ratio livemod / readelf per file: %.1fx\n", livemod_rate / per_file_rate);
  std::printf("ratio livemod / readelf all in one: %.1fx\n", livemod_rate / one_rate);
  return failures == 0 ? 0 : 1;
}
