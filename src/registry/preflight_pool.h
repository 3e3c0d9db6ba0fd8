// The registry's preflight: a module's check (livemod/check.h) turned into the verdict the
// load needs, and the pool that runs one load's checks while the load goes on. The resolve
// step hands each module file to the pool as soon as it has found it, so the checks run on
// other cores while resolve is still reading the rest of the graph; the load then takes the
// verdicts in load order, checking in place any that no thread has started. Only files are
// read: no module code runs here.
//
//   preflight_pool pool(options.preflight, registry_options::preflight_threads);
//   pool.submit(file, identity);                     // from the resolve step, any order
//   early_verdict v = pool.take(file, identity);     // in load order: same verdicts, same
//                                                    // first failure, whatever the threads
//
// Threads: submit and take are called by the loading thread only. Background threads start at
// the fourth file submitted (a small load checks in place: a thread costs about one check);
// the destructor abandons checks not started and joins the threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "livemod/check.h"
#include "livemod/library.h"
#include "registry/registry_state.h"

namespace livemod::registry_detail {

// The check, as a verdict or the error that refuses the module: the first error finding,
// with how many more there are.
result<detail::preflight_verdict> run_preflight(const std::filesystem::path& file,
                                                const file_identity& version,
                                                const check_options& options);

// A verdict with how long its check took, and an exception the check threw, carried to the
// loading thread, which throws it where a check run in place would have.
struct early_verdict {
  result<detail::preflight_verdict> verdict = detail::preflight_verdict{};
  std::chrono::nanoseconds took{};
  std::exception_ptr thrown;
};

class preflight_pool {
 public:
  // `threads` as registry_options::preflight_threads: 0 picks up to 4 by the machine's cores,
  // 1 checks everything in the calling thread.
  preflight_pool(check_options options, unsigned threads);
  ~preflight_pool();
  preflight_pool(const preflight_pool&) = delete;
  preflight_pool& operator=(const preflight_pool&) = delete;

  // Queues a check of `file` as `version`; a file version submitted before is not queued again.
  void submit(const std::filesystem::path& file, const file_identity& version);
  // The verdict of `file` as `version`: waits for a check in progress, and runs one that has
  // not started (or was never submitted) on this thread.
  early_verdict take(const std::filesystem::path& file, const file_identity& version);
  // Abandons the checks not started and joins the threads (the destructor does it too): once
  // the verdicts are in, no idle thread of the pool should keep another core in this
  // process's address space while the load maps files.
  void finish();

 private:
  struct job {
    job(std::filesystem::path f, const file_identity& v) : file(std::move(f)), version(v) {}
    std::filesystem::path file;
    file_identity version;
    enum class stage { queued, running, done } at = stage::queued;
    early_verdict outcome;
  };
  void work();
  static void run(job& j, const check_options& options);

  const check_options options_;
  const unsigned background_;  // threads besides the caller's
  std::mutex mutex_;
  std::condition_variable changed_;
  std::unordered_map<std::string, std::shared_ptr<job>> jobs_;  // by path
  std::deque<std::shared_ptr<job>> queue_;
  std::size_t submitted_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace livemod::registry_detail
