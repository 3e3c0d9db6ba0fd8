#include "registry/preflight_pool.h"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <system_error>
#include <utility>

namespace livemod::registry_detail {
namespace {

using clock = std::chrono::steady_clock;

std::string sanitizer_runtime_of(const check_report& report) {
  static constexpr std::string_view runtimes[] = {"libasan.so", "libtsan.so", "libhwasan.so",
                                                  "liblsan.so", "libmsan.so"};
  auto is_runtime = [](std::string_view lib) {
    return std::any_of(std::begin(runtimes), std::end(runtimes),
                       [&](std::string_view r) { return lib.starts_with(r); });
  };
  for (const std::string& lib : report.module.needed)
    if (is_runtime(lib)) return lib;
  for (const resolved_library& lib : report.libraries)
    if (is_runtime(lib.name)) return lib.name;
  if (report.module_manifest && report.module_manifest->fingerprint) {
    if (report.module_manifest->fingerprint->asan) return "the ASan runtime";
    if (report.module_manifest->fingerprint->tsan) return "the TSan runtime";
  }
  return {};
}

// Threads besides the caller's: registry_options::preflight_threads less one, or when it is 0,
// up to 4 in all by the machine's cores.
unsigned background_threads(unsigned wanted) {
  const unsigned all = wanted != 0 ? wanted : std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  return all - 1;
}

// A small load checks in place: starting a thread costs about what one check does.
constexpr std::size_t k_files_before_threads = 4;
constexpr std::size_t k_batch = 8;

}  // namespace

result<detail::preflight_verdict> run_preflight(const std::filesystem::path& file,
                                                const file_identity& version,
                                                const check_options& options) {
  auto report = check(file, version, options);
  if (!report) return fail(report.error());
  std::size_t errors = 0;
  const finding* first = nullptr;
  for (const finding& f : report->findings) {
    if (f.level != severity::error) continue;
    if (first == nullptr) first = &f;
    ++errors;
  }
  if (first != nullptr) {
    std::string cause = "refused before loading: " + first->message;
    if (errors > 1) {
      cause += " (and " + std::to_string(errors - 1) + " more problem" +
               (errors > 2 ? "s" : "") + "; `livemod check " + file.string() + "` lists them)";
    }
    return fail(first->code, file.string(), std::move(cause), first->remedy);
  }
  detail::preflight_verdict v;
  if (report->module_manifest) {
    v.entry = report->module_manifest->entry_points;
    v.manifest_abi = report->module_manifest->abi;
  }
  v.sanitizer_runtime = sanitizer_runtime_of(*report);
  return v;
}

preflight_pool::preflight_pool(check_options options, unsigned threads)
    : options_(std::move(options)), background_(background_threads(threads)) {}

preflight_pool::~preflight_pool() { finish(); }

void preflight_pool::finish() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void preflight_pool::run(job& j, const check_options& options) {
  const auto start = clock::now();
  try {
    j.outcome.verdict = run_preflight(j.file, j.version, options);
  } catch (...) {
    j.outcome.thrown = std::current_exception();
  }
  j.outcome.took = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start);
}

void preflight_pool::submit(const std::filesystem::path& file, const file_identity& version) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    auto [it, added] = jobs_.try_emplace(file.native());
    if (!added && it->second->version == version) return;
    it->second = std::make_shared<job>(file, version);
    queue_.push_back(it->second);
    ++submitted_;
    // Woken per batch, not per file: a wake-up costs about what a check does, and resolve
    // finds a file every few microseconds.
    wake = queue_.size() % k_batch == 0;
  }
  if (wake) changed_.notify_one();
  if (submitted_ == k_files_before_threads && threads_.empty()) {
    try {
      for (unsigned t = 0; t < background_; ++t) threads_.emplace_back([this] { work(); });
    } catch (const std::system_error&) {
      // No thread to be had: the ones started and the caller share the work.
    }
  }
}

early_verdict preflight_pool::take(const std::filesystem::path& file, const file_identity& version) {
  std::shared_ptr<job> j;
  {
    std::unique_lock lock(mutex_);
    if (auto it = jobs_.find(file.native()); it != jobs_.end() && it->second->version == version)
      j = it->second;
    if (j && j->at == job::stage::queued) {
      // Nobody has started it: check it here rather than wait for a thread to get to it.
      j->at = job::stage::running;
    } else if (j) {
      changed_.wait(lock, [&] { return j->at == job::stage::done; });
      return j->outcome;
    }
  }
  if (!j) j = std::make_shared<job>(file, version);
  run(*j, options_);
  {
    std::lock_guard lock(mutex_);
    j->at = job::stage::done;
  }
  return j->outcome;
}

void preflight_pool::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::shared_ptr<job> j = std::move(queue_.front());
    queue_.pop_front();
    if (j->at != job::stage::queued) continue;  // the caller took it first
    j->at = job::stage::running;
    lock.unlock();
    run(*j, options_);
    lock.lock();
    j->at = job::stage::done;
    changed_.notify_all();
  }
}

}  // namespace livemod::registry_detail
