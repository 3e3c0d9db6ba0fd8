// The hot-swap engine: stage, preflight, load, migrate, publish, grace, unload, rollback.
// One swap runs at a time (swap_mu_); callers read the published table under RCU and never
// take a lock. docs/hot-swap.md explains each step and what it cannot protect against.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <mutex>
#include <thread>
#include <utility>

#include "live/lifecycle.h"
#include "livemod/image.h"
#include "livemod/live.h"
#include "os/thread_name.h"

namespace livemod {

namespace detail {
// Constant-initialised: callers may read it before any constructor of this file has run.
constinit live_table no_version_table{nullptr, 0, nullptr, 0, true};

error no_version_error() {
  return error(errc::no_version_loaded, "", "no version of the module is serving",
               "swap a working version in");
}
}  // namespace detail

std::string_view to_string(live_event_kind kind) noexcept {
  switch (kind) {
    case live_event_kind::swapped: return "swapped";
    case live_event_kind::refused: return "refused";
    case live_event_kind::rolled_back: return "rolled_back";
    case live_event_kind::unloaded: return "unloaded";
    case live_event_kind::unload_incomplete: return "unload_incomplete";
    case live_event_kind::abandoned: return "abandoned";
  }
  return "unknown";
}

std::string_view to_string(swap_step step) noexcept {
  switch (step) {
    case swap_step::stage: return "stage";
    case swap_step::preflight: return "preflight";
    case swap_step::load: return "load";
    case swap_step::migrate: return "migrate";
    case swap_step::publish: return "publish";
    case swap_step::health: return "health";
    case swap_step::grace: return "grace";
    case swap_step::unload: return "unload";
  }
  return "unknown";
}

namespace {
using clock = std::chrono::steady_clock;
using live_detail::started_version;

struct state_blob {
  bool present = false;
  std::uint32_t schema = 0;
  std::vector<std::uint8_t> bytes;
};

// A loaded version: what the engine owns for the version that serves.
struct version {
  std::uint64_t sequence = 0;
  std::filesystem::path source, staged;
  manifest man;
  started_version started;
  state_blob start_state;  // what it was started with (for a rollback to it)
  std::unique_ptr<detail::live_table> table;
};

// What a swap_participant sees of a version (its strings live here: not copyable).
struct participant_view {
  explicit participant_view(const version& x) : version_text(x.man.version.to_string()) {
    v.sequence = x.sequence;
    v.module = x.man.name;
    v.version = version_text;
    v.image = &x.started.lib;
  }
  participant_view(const participant_view&) = delete;
  participant_view& operator=(const participant_view&) = delete;
  std::string version_text;
  swap_version v;
};

// Lets a participant ask for a kept image's unload after the engine is gone (it then does
// nothing).
struct unload_channel {
  std::mutex mu;
  live_engine* engine = nullptr;
};

// A version copied into the shadow dir: its path there, and the bytes written to it.
struct staged_file {
  std::filesystem::path path;
  std::string bytes;
};

// Closes a descriptor on every path out of stage().
struct fd_closer {
  int fd = -1;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

// A version that served before, kept on disk: the state it had when it was replaced.
struct history_entry {
  std::uint64_t sequence = 0;
  std::filesystem::path source, staged;
  manifest man;
  state_blob state;
};

std::chrono::nanoseconds since(clock::time_point t) { return clock::now() - t; }

// Whether a fresh shadow dir can go under `dir`: a directory we may write, on a file system
// that lets files be mapped executable (dlopen fails on a noexec mount).
bool usable_shadow_parent(const char* dir) {
  if (dir == nullptr || *dir == '\0') return false;
  struct statvfs fs {};
  return ::access(dir, W_OK | X_OK) == 0 && ::statvfs(dir, &fs) == 0 && (fs.f_flag & ST_NOEXEC) == 0;
}

// Where the default shadow dir goes: $TMPDIR when set (the user chose), else a memory file
// system ($XDG_RUNTIME_DIR, /dev/shm) when one is usable, else /tmp. Staging is a file create
// and write on the swap's critical path: on tmpfs it measured 0.06 ms, on ext4 0.15 ms (journal
// and inode allocation), for the demo's 22 KB module (bench/RESULTS.md, "## hot swap").
std::string default_shadow_parent() {
  if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) return tmp;
  for (const char* dir : {static_cast<const char*>(std::getenv("XDG_RUNTIME_DIR")), "/dev/shm"})
    if (usable_shadow_parent(dir)) return dir;
  return "/tmp";
}

}  // namespace

class live_engine {
 public:
  explicit live_engine(live_options o) : opt_(std::move(o)) {}
  ~live_engine() { shutdown(); }

  result<void> init() {
    if (opt_.interface_id.empty())
      return fail(errc::swap_stage_failed, "", "live_options.interface_id is empty",
                  "name the interface whose table callers use");
    opt_.history = std::max<std::size_t>(opt_.history, 2);
    if (opt_.shadow_dir.empty()) {
      std::string tmpl = default_shadow_parent() + "/livemod-shadow-XXXXXX";
      if (!::mkdtemp(tmpl.data()))
        return fail(errc::swap_stage_failed, tmpl, "cannot create the shadow dir",
                    "make TMPDIR writable, or set live_options.shadow_dir");
      shadow_ = tmpl;
      own_shadow_ = true;
    } else {
      shadow_ = opt_.shadow_dir;
      std::error_code ec;
      std::filesystem::create_directories(shadow_, ec);
      if (ec || ::chmod(shadow_.c_str(), 0700) != 0)
        return fail(errc::swap_stage_failed, shadow_.string(), "cannot create the shadow dir",
                    "choose a directory this user owns");
    }
    try {
      worker_ = std::thread([this] { work(); });
      os::name_thread(worker_, "livemod-swap");
    } catch (const std::exception& e) {
      return fail(errc::swap_stage_failed, "", std::string("cannot start the worker: ") + e.what());
    }
    return {};
  }

  detail::live_table* const* slot() const noexcept { return &current_; }

  result<swap_timings> swap(const std::filesystem::path& source, swap_flags flags,
                            std::optional<clock::time_point> requested_at = std::nullopt) {
    std::lock_guard lock(swap_mu_);
    return swap_locked(source, flags, requested_at);
  }

  void request(const std::filesystem::path& source, swap_flags flags) {
    {
      std::lock_guard lock(q_mu_);
      bump([](live_stats& s) { ++s.requested; });
      if (pending_) bump([](live_stats& s) { ++s.coalesced; });
      pending_ = pending_swap{source, flags, clock::now()};
    }
    // After the unlock: a worker woken under q_mu_ would block on it at once and need a
    // second wake-up before the swap can start.
    q_cv_.notify_all();
  }

  void request_rollback(std::uint64_t sequence, const error& cause) {
    std::lock_guard lock(q_mu_);
    if (rollback_for_ == sequence) return;
    rollback_for_ = sequence;
    rollback_cause_ = cause;
    q_cv_.notify_all();
  }

  void wait_idle() {
    std::unique_lock lock(q_mu_);
    idle_cv_.wait(lock,
                  [&] { return !pending_ && !busy_ && rollback_for_ == 0 && unloads_.empty(); });
  }

  // `cause`: what failed (a crash, a health check); none when the rollback was asked for.
  result<void> rollback(std::optional<std::uint64_t> only_if, std::optional<error> cause) {
    std::lock_guard lock(swap_mu_);
    return rollback_locked(only_if, cause);
  }

  std::string current_version() const {
    std::lock_guard lock(info_mu_);
    return current_version_;
  }
  std::string module_name() const {
    std::lock_guard lock(info_mu_);
    return module_name_;
  }
  std::filesystem::path shadow_dir() const { return shadow_; }
  std::vector<std::string> history_versions() {
    std::lock_guard lock(swap_mu_);
    std::vector<std::string> out;
    for (const history_entry& h : history_) out.push_back(h.man.version.to_string());
    return out;
  }
  live_stats stats() const {
    std::lock_guard lock(info_mu_);
    return stats_;
  }

 private:
  template <class F>
  void bump(F f) {
    std::lock_guard lock(info_mu_);
    f(stats_);
  }

  void emit(const live_event& e) {
    if (!opt_.on_event) return;
    try {
      opt_.on_event(e);
    } catch (...) {
      // An observer's exception must not stop a swap half-way.
    }
  }

  void set_current_info() {
    std::lock_guard lock(info_mu_);
    current_version_ = cur_ ? cur_->man.version.to_string() : "";
    if (cur_) module_name_ = cur_->man.name;
  }

  void publish(detail::live_table* t) { __atomic_store_n(&current_, t, __ATOMIC_RELEASE); }

  // One read of the source into memory and one write of the copy. The bytes in memory are
  // then what preflight compares with its cache, and exactly what dlopen maps: the file is read
  // once (copy_file + a second read for the cache cost twice the system calls, and stage was
  // the largest step before load). A real copy under a name unique to the version, never a
  // link or a memfd: dlopen must see a new file, and `is_mapped` finds it by path.
  result<staged_file> stage(const std::filesystem::path& from, std::uint64_t seq) {
    staged_file out;
    out.path = shadow_ / (from.stem().string() + "." + std::to_string(seq) + ".so");
    auto os_fail = [&](const std::string& what, int err) {
      return fail(error(errc::swap_stage_failed, from.string(),
                        what + " (" + std::strerror(err) + ")",
                        "check the file exists and is readable, and the shadow dir " +
                            shadow_.string() + " is writable")
                      .with_os_text(std::strerror(err)));
    };
    {
      fd_closer in{::open(from.c_str(), O_RDONLY | O_CLOEXEC)};
      if (in.fd < 0) return os_fail("cannot open it", errno);
      struct stat st {};
      if (::fstat(in.fd, &st) != 0) return os_fail("cannot stat it", errno);
      if (!S_ISREG(st.st_mode)) return os_fail("not a regular file", EINVAL);
      // Sized by fstat, read to the end: a file that grew or shrank since is read as it is now.
      out.bytes.resize(static_cast<std::size_t>(st.st_size) + 1);
      std::size_t got = 0;
      for (;;) {
        if (got == out.bytes.size()) out.bytes.resize(out.bytes.size() * 2);
        const ssize_t n = ::read(in.fd, out.bytes.data() + got, out.bytes.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return os_fail("cannot read it", errno);
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
      }
      out.bytes.resize(got);
    }
    // O_EXCL: never write into an existing file, which another process may have mapped (a
    // leftover of an earlier run in a shadow_dir given by the options). Replace it instead.
    const auto create = [&] {
      return ::open(out.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    };
    fd_closer to{create()};
    if (to.fd < 0 && errno == EEXIST && ::unlink(out.path.c_str()) == 0) to.fd = create();
    if (to.fd < 0) return os_fail("cannot create " + out.path.string(), errno);
    for (std::size_t put = 0; put < out.bytes.size();) {
      const ssize_t n = ::write(to.fd, out.bytes.data() + put, out.bytes.size() - put);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;
        ::unlink(out.path.c_str());
        return os_fail("cannot write " + out.path.string(), err);
      }
      put += static_cast<std::size_t>(n);
    }
    const int closed = ::close(std::exchange(to.fd, -1));
    if (closed != 0) {
      const int err = errno;
      ::unlink(out.path.c_str());
      return os_fail("cannot write " + out.path.string(), err);
    }
    return out;
  }

  static error finding_error(const check_report& r, const std::filesystem::path& source) {
    for (const finding& f : r.findings)
      if (f.level == severity::error)
        return error(errc::swap_preflight_failed, source.string(),
                     std::string(to_string(f.code)) + ": " + f.message, f.remedy);
    return error(errc::swap_preflight_failed, source.string(), "incompatible");
  }

  result<manifest> preflight(staged_file& staged, const std::filesystem::path& source,
                             swap_flags flags) {
    // check() reads the module and resolves it against the host (0.1-0.2 ms for a small
    // module, more for a large one); a file whose bytes are those of one already found
    // compatible gets the same verdict against the same host, so its manifest is reused.
    // Exact bytes are compared (stage kept them in memory: no second read), not a hash or the
    // file's stamp: no collision, and no same-size rewrite within one tick of the file clock,
    // can let an unchecked file through.
    std::string& bytes = staged.bytes;
    std::optional<manifest> cached;
    for (const auto& [b, m] : verdicts_)
      if (b == bytes) cached = m;
    if (!cached) {
      auto report = check(staged.path, opt_.check);
      if (!report) {
        error e = report.error();
        return fail(errc::swap_preflight_failed, source.string(),
                    std::string(to_string(e.code())) + ": " + e.cause(), e.remedy());
      }
      if (!report->compatible()) return fail(finding_error(*report, source));
      if (!report->module_manifest)
        return fail(errc::swap_preflight_failed, source.string(), "has no manifest",
                    "build it with livemod_add_module");
      cached = *report->module_manifest;
      verdicts_.emplace_back(std::move(bytes), *cached);
      if (verdicts_.size() > 8) verdicts_.pop_front();
    }
    manifest m = *cached;
    auto iface = std::find_if(m.interfaces.begin(), m.interfaces.end(),
                              [&](const interface_decl& i) { return i.id == opt_.interface_id; });
    if (iface == m.interfaces.end())
      return fail(errc::interface_incompatible, source.string(),
                  "does not provide interface '" + opt_.interface_id + "'",
                  "keep the interface id; a changed interface is a new module");
    if (cur_) {
      if (m.name != cur_->man.name)
        return fail(errc::module_renamed, source.string(),
                    "is module '" + m.name + "', but '" + cur_->man.name + "' is serving",
                    "a swap replaces a module with a version of itself; host it separately");
      // Every interface the serving version declares (its API table's, and those of its
      // objects) must still be there with at least as many methods: callers and live objects
      // may use any of them.
      for (const interface_decl& old : cur_->man.interfaces) {
        auto now = std::find_if(m.interfaces.begin(), m.interfaces.end(),
                                [&](const interface_decl& i) { return i.id == old.id; });
        if (now == m.interfaces.end())
          return fail(errc::interface_incompatible, source.string(),
                      "no longer provides interface '" + old.id + "', which the serving version "
                      "declares",
                      "keep every interface; a removed interface is a new module");
        if (now->methods < old.methods)
          return fail(errc::interface_incompatible, source.string(),
                      "interface '" + old.id + "' has " + std::to_string(now->methods) +
                          " methods, the serving version has " + std::to_string(old.methods),
                      "append methods, never remove them");
      }
      if (m.version < cur_->man.version && !flags.force)
        return fail(errc::downgrade_refused, source.string(),
                    "version " + m.version.to_string() + " is lower than " +
                        cur_->man.version.to_string() + ", which is serving",
                    "force the swap to downgrade");
    }
    return m;
  }

  // Runs save_state of `from` into a blob.
  static result<state_blob> save(const version& from) {
    state_blob blob;
    if (!from.started.save_state) return blob;
    blob.present = true;
    blob.schema = from.man.state_schema;
    struct ctx_t {
      livemod_save_state_fn fn;
      std::vector<std::uint8_t>* out;
      std::int32_t rc;
    } ctx{from.started.save_state, &blob.bytes, 0};
    auto r = run_guarded(
        [](void* c) noexcept {
          auto& x = *static_cast<ctx_t*>(c);
          livemod_state_sink sink{x.out, [](livemod_state_sink* s, const void* d,
                                            std::uint64_t n) noexcept -> std::int32_t {
                                    try {
                                      auto* v = static_cast<std::vector<std::uint8_t>*>(s->context);
                                      auto* b = static_cast<const std::uint8_t*>(d);
                                      v->insert(v->end(), b, b + n);
                                      return LIVEMOD_OK;
                                    } catch (...) {
                                      return -LIVEMOD_E_FAILED;
                                    }
                                  }};
          x.rc = x.fn(&sink);
        },
        &ctx);
    std::string who = from.man.name + " " + from.man.version.to_string();
    if (!r)
      return fail(errc::state_migration_failed, who, "save_state crashed: " + r.error().cause(),
                  "fix save_state");
    if (ctx.rc < 0)
      return fail(errc::state_migration_failed, who,
                  "save_state failed with code " + std::to_string(-ctx.rc), "fix save_state");
    return blob;
  }

  static result<void> restore(const started_version& to, const manifest& m, const state_blob& b) {
    if (!b.present || !to.restore_state) return {};
    struct ctx_t {
      livemod_restore_state_fn fn;
      const state_blob* blob;
      std::int32_t rc;
    } ctx{to.restore_state, &b, 0};
    auto r = run_guarded(
        [](void* c) noexcept {
          auto& x = *static_cast<ctx_t*>(c);
          x.rc = x.fn(x.blob->bytes.data(), x.blob->bytes.size(), x.blob->schema);
        },
        &ctx);
    std::string who = m.name + " " + m.version.to_string();
    if (!r)
      return fail(errc::state_migration_failed, who, "restore_state crashed: " + r.error().cause(),
                  "fix restore_state");
    if (ctx.rc < 0)
      return fail(errc::state_migration_failed, who,
                  "restore_state refused the state of schema " + std::to_string(b.schema) +
                      " (code " + std::to_string(-ctx.rc) + ")",
                  "make restore_state accept every older schema");
    return {};
  }

  std::unique_ptr<detail::live_table> make_table(const version& v, bool probation) {
    auto t = std::make_unique<detail::live_table>();
    t->api = v.started.api;
    t->sequence = v.sequence;
    t->engine = this;
    t->probation_limit = opt_.probation_calls;
    t->probation.store(probation && opt_.probation_calls > 0, std::memory_order_relaxed);
    return t;
  }

  void remove_file(const std::filesystem::path& p) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
  }

  // Grace period, then on_unload and dlclose of `old`, and the check that it is gone.
  void retire(std::unique_ptr<version> old, live_event base, bool keep_file) {
    if (!old) return;
    auto t0 = clock::now();
    rcu::synchronize();  // its scan's acquire loads pair with the readers' release stores
    base.timings.grace = since(t0);
    old->table.reset();
    if (opt_.participant) {
      participant_view pv(*old);
      std::function<void()> later = [ch = unload_channel_, seq = old->sequence] {
        std::lock_guard lock(ch->mu);
        if (ch->engine) ch->engine->request_unload(seq);
      };
      if (!opt_.participant->may_unload(pv.v, std::move(later))) {
        // Live objects still need the image: it goes when the participant says so.
        kept_.push_back({std::move(old), std::move(base), keep_file});
        return;
      }
    }
    finish_retire(std::move(old), std::move(base), keep_file);
  }

  // A kept image nothing needs any more (on the worker): a grace period first, since the
  // object layer brackets its destructor calls with read-side sections.
  void unload_kept(std::uint64_t sequence) {
    auto k = std::find_if(kept_.begin(), kept_.end(),
                          [&](const kept_version& x) { return x.v->sequence == sequence; });
    if (k == kept_.end()) return;
    kept_version x = std::move(*k);
    kept_.erase(k);
    auto t0 = clock::now();
    rcu::synchronize();
    x.base.timings.grace = since(t0);
    finish_retire(std::move(x.v), std::move(x.base), x.keep_file);
  }

  static std::shared_ptr<unload_channel> make_channel(live_engine* e) {
    auto c = std::make_shared<unload_channel>();
    c->engine = e;
    return c;
  }

  void request_unload(std::uint64_t sequence) {
    std::lock_guard lock(q_mu_);
    unloads_.push_back(sequence);
    q_cv_.notify_all();
  }

  // on_unload, dlclose, and the check that the image is gone.
  void finish_retire(std::unique_ptr<version> old, live_event base, bool keep_file) {
    auto t1 = clock::now();
    live_event e = base;
    e.from_version = old->man.version.to_string();
    e.sequence = old->sequence;
    e.step = swap_step::unload;
    auto stopped = live_detail::stop_version(old->started);
    if (!stopped) {
      // The module's state is unknown after a crash in on_unload: closing would run its
      // static destructors over it. The image stays mapped, never called again.
      abandoned_.push_back(std::move(old->started.lib));
      e.kind = live_event_kind::unload_incomplete;
      e.cause = error(errc::unload_incomplete, old->staged.string(),
                      "on_unload crashed: " + stopped.error().cause(),
                      "the image stays mapped and is never called again; fix on_unload");
      e.timings.unload = since(t1);
      bump([](live_stats& s) { ++s.unload_incomplete; });
      emit(e);
      return;
    }
    (void)old->started.lib.close();
    e.timings.unload = since(t1);
    if (live_detail::is_mapped(old->staged)) {
      std::string why = "dlclose left it mapped";
      if (auto img = read_image(old->staged); img && img->is_pinned()) {
        why += ": pinned by ";
        for (std::size_t i = 0; i < img->pins.size(); ++i)
          why += (i ? ", " : "") + img->pins[i].detail;
      } else {
        why += " (another handle to it, or a thread_local destructor pending)";
      }
      e.kind = live_event_kind::unload_incomplete;
      e.cause = error(errc::unload_incomplete, old->staged.string(), why,
                      "build with -fno-gnu-unique and without TLS destructors");
      bump([](live_stats& s) { ++s.unload_incomplete; });
    } else {
      e.kind = live_event_kind::unloaded;
      bump([](live_stats& s) { ++s.unloaded; });
    }
    if (!keep_file) remove_file(old->staged);
    emit(e);
  }

  void trim_history() {
    while (history_.size() + 1 > opt_.history) {
      remove_file(history_.front().staged);
      history_.pop_front();
    }
  }

  result<swap_timings> swap_locked(const std::filesystem::path& source, swap_flags flags,
                                   std::optional<clock::time_point> requested_at) {
    live_event ev;
    if (requested_at) ev.timings.queued = since(*requested_at);
    ev.path = source;
    ev.from_version = cur_ ? cur_->man.version.to_string() : "";
    ev.module = cur_ ? cur_->man.name : "";
    std::uint64_t seq = next_seq_++;
    ev.sequence = seq;
    auto refuse = [&](swap_step step, error e) -> result<swap_timings> {
      ev.kind = live_event_kind::refused;
      ev.step = step;
      ev.cause = e;
      bump([](live_stats& s) { ++s.refused; });
      emit(ev);
      return fail(std::move(e));
    };

    auto t = clock::now();
    auto staged = stage(source, seq);
    if (!staged) return refuse(swap_step::stage, staged.error());
    ev.timings.stage = since(t);

    t = clock::now();
    auto man = preflight(*staged, source, flags);
    if (!man) {
      remove_file(staged->path);
      return refuse(swap_step::preflight, man.error());
    }
    ev.timings.preflight = since(t);
    ev.module = man->name;
    ev.to_version = man->version.to_string();

    t = clock::now();
    std::size_t abandoned_before = abandoned_.size();
    auto started = live_detail::start_version(staged->path, *man, opt_.interface_id,
                                              opt_.on_load_timeout, abandoned_);
    if (!started) {
      if (abandoned_.size() != abandoned_before) {
        bump([](live_stats& s) { ++s.abandoned; });
        live_event a = ev;
        a.kind = live_event_kind::abandoned;
        a.step = swap_step::load;
        a.cause = started.error();
        emit(a);
      } else {
        remove_file(staged->path);
      }
      return refuse(swap_step::load, started.error());
    }
    ev.timings.load = since(t);

    t = clock::now();
    auto v = std::make_unique<version>();
    v->sequence = seq;
    v->source = source;
    v->staged = staged->path;
    v->man = std::move(*man);
    v->started = std::move(*started);
    state_blob old_state;
    if (cur_) {
      auto saved = save(*cur_);
      auto restored = saved ? restore(v->started, v->man, *saved) : result<void>(fail(saved.error()));
      if (!restored) {
        (void)live_detail::stop_version(v->started);
        (void)v->started.lib.close();
        remove_file(staged->path);
        return refuse(swap_step::migrate, restored.error());
      }
      old_state = std::move(*saved);
    }
    v->start_state = old_state;
    if (auto joined = prepare_participant(*v, false); !joined)
      return refuse(swap_step::publish, joined.error());
    ev.timings.migrate = since(t);

    t = clock::now();
    v->table = make_table(*v, true);
    publish(v->table.get());
    ev.timings.published_at = clock::now();
    ev.timings.publish = ev.timings.published_at - t;
    std::unique_ptr<version> old = std::move(cur_);
    cur_ = std::move(v);

    if (opt_.health_check) {
      auto healthy = opt_.health_check(cur_->started.api);
      if (!healthy) {
        error cause(errc::health_check_failed, source.string(),
                    "the health check refused version " + cur_->man.version.to_string() + ": " +
                        healthy.error().cause(),
                    "the previous version serves again");
        publish(old ? old->table.get() : &detail::no_version_table);
        std::unique_ptr<version> failed = std::move(cur_);
        cur_ = std::move(old);
        set_current_info();
        live_event r = ev;
        r.kind = live_event_kind::rolled_back;
        r.step = swap_step::health;
        r.cause = cause;
        std::swap(r.from_version, r.to_version);
        bump([](live_stats& s) { ++s.rollbacks; });
        emit(r);
        retire(std::move(failed), ev, false);
        return fail(std::move(cause));
      }
    }
    if (opt_.participant) {
      std::optional<participant_view> from;
      if (old) from.emplace(*old);
      participant_view to(*cur_);
      opt_.participant->published(from ? &from->v : nullptr, to.v, false);
    }
    set_current_info();
    ev.kind = live_event_kind::swapped;
    ev.step = swap_step::publish;
    bump([](live_stats& s) { ++s.swaps; });
    emit(ev);
    if (old) {
      history_.push_back({old->sequence, old->source, old->staged, old->man, std::move(old_state)});
      trim_history();
    }
    swap_timings timings = ev.timings;
    live_event u = ev;
    retire(std::move(old), u, true);
    return timings;
  }

  // Lets the participant (a layer below, e.g. objects) check the new version before it is
  // published; on a refusal the new version is stopped, closed and its staged file removed.
  result<void> prepare_participant(version& v, bool rollback) {
    if (!opt_.participant) return {};
    std::optional<participant_view> from;
    if (cur_) from.emplace(*cur_);
    participant_view to(v);
    auto joined = opt_.participant->prepare(from ? &from->v : nullptr, to.v, rollback);
    if (joined) return {};
    (void)live_detail::stop_version(v.started);
    (void)v.started.lib.close();
    remove_file(v.staged);
    return fail(std::move(joined.error()));
  }

  result<void> rollback_locked(std::optional<std::uint64_t> only_if, std::optional<error> cause) {
    if (only_if && (!cur_ || cur_->sequence != *only_if)) return {};  // already replaced
    live_event ev;
    ev.kind = live_event_kind::rolled_back;
    ev.step = swap_step::publish;
    ev.cause = cause;
    ev.module = cur_ ? cur_->man.name : "";
    ev.from_version = cur_ ? cur_->man.version.to_string() : "";
    if (history_.empty()) {
      if (!only_if)
        return fail(errc::no_previous_version, ev.module, "no earlier version is kept",
                    "swap a working version in");
      // The first version crashed: nothing to go back to, so nothing serves until a fixed
      // file arrives (calls get no_version_loaded instead of crashing again).
      publish(&detail::no_version_table);
      std::unique_ptr<version> failed = std::move(cur_);
      set_current_info();
      ev.sequence = failed->sequence;
      ev.path = failed->source;
      bump([](live_stats& s) { ++s.rollbacks; });
      emit(ev);
      retire(std::move(failed), ev, false);
      return {};
    }
    history_entry h = history_.back();
    std::uint64_t seq = next_seq_++;
    auto staged = stage(h.staged, seq);
    if (!staged) return fail(staged.error());
    std::size_t abandoned_before = abandoned_.size();
    auto started = live_detail::start_version(staged->path, h.man, opt_.interface_id,
                                              opt_.on_load_timeout, abandoned_);
    if (!started) {
      if (abandoned_.size() == abandoned_before) remove_file(staged->path);
      return fail(started.error());
    }
    if (auto r = restore(*started, h.man, h.state); !r) {
      (void)live_detail::stop_version(*started);
      (void)started->lib.close();
      remove_file(staged->path);
      return fail(r.error());
    }
    auto v = std::make_unique<version>();
    v->sequence = seq;
    v->source = h.source;
    v->staged = staged->path;
    v->man = h.man;
    v->started = std::move(*started);
    v->start_state = h.state;
    if (auto joined = prepare_participant(*v, true); !joined) return fail(joined.error());
    v->table = make_table(*v, false);  // it served before: no probation
    publish(v->table.get());
    std::unique_ptr<version> failed = std::move(cur_);
    cur_ = std::move(v);
    if (opt_.participant) {
      std::optional<participant_view> from;
      if (failed) from.emplace(*failed);
      participant_view to(*cur_);
      opt_.participant->published(from ? &from->v : nullptr, to.v, true);
    }
    history_.pop_back();
    remove_file(h.staged);
    set_current_info();
    ev.to_version = cur_->man.version.to_string();
    ev.sequence = seq;
    ev.path = h.source;
    bump([](live_stats& s) { ++s.rollbacks; });
    emit(ev);
    retire(std::move(failed), ev, false);
    return {};
  }

  void work() {
    std::unique_lock lock(q_mu_);
    for (;;) {
      q_cv_.wait(lock,
                 [&] { return stop_ || pending_ || rollback_for_ != 0 || !unloads_.empty(); });
      if (stop_) break;
      busy_ = true;
      if (!unloads_.empty()) {
        std::uint64_t seq = unloads_.front();
        unloads_.pop_front();
        lock.unlock();
        {
          std::lock_guard swap_lock(swap_mu_);
          unload_kept(seq);
        }
        lock.lock();
      } else if (rollback_for_ != 0) {
        std::uint64_t seq = rollback_for_;
        error cause = *rollback_cause_;
        lock.unlock();
        (void)rollback(seq, cause);
        lock.lock();
        if (rollback_for_ == seq) rollback_for_ = 0;
      } else {
        pending_swap job = std::move(*pending_);
        pending_.reset();
        lock.unlock();
        (void)swap(job.path, job.flags, job.requested_at);
        lock.lock();
      }
      busy_ = false;
      idle_cv_.notify_all();
    }
  }

  void shutdown() {
    {
      std::lock_guard lock(q_mu_);
      stop_ = true;
      q_cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
    std::lock_guard lock(swap_mu_);
    publish(&detail::no_version_table);
    if (cur_) {
      live_event e;
      e.module = cur_->man.name;
      retire(std::move(cur_), e, false);
    }
    {
      std::lock_guard channel_lock(unload_channel_->mu);
      unload_channel_->engine = nullptr;
    }
    // Kept images whose objects are all gone are unloaded now; the others stay mapped for
    // ever (objects outliving their live_module still run their code).
    std::deque<std::uint64_t> unloads;
    {
      std::lock_guard q_lock(q_mu_);
      unloads.swap(unloads_);
    }
    for (std::uint64_t seq : unloads) unload_kept(seq);
    for (kept_version& k : kept_) {
      remove_file(k.v->staged);
      abandoned_.push_back(std::move(k.v->started.lib));
    }
    kept_.clear();
    for (const history_entry& h : history_) remove_file(h.staged);
    history_.clear();
    // Removed even when images stay mapped (abandoned, or kept for live objects): a mapping
    // outlives its file's name, and a kept name would outlive the process. With the shadow dir
    // on a memory file system by default, that would be RAM lost until reboot.
    if (own_shadow_) {
      std::error_code ec;
      std::filesystem::remove_all(shadow_, ec);
    }
    // Abandoned images are never closed: code in them may still run (a hung on_load).
    static auto* never_closed = new std::vector<library>;  // reachable: not a leak to LSan
    for (library& l : abandoned_) never_closed->push_back(std::move(l));
  }

  live_options opt_;
  std::filesystem::path shadow_;
  bool own_shadow_ = false;
  // Published; written with release, read under RCU. Never null (live.h: no_version_table).
  detail::live_table* current_ = &detail::no_version_table;

  std::mutex swap_mu_;  // one swap or rollback at a time; guards everything below
  std::unique_ptr<version> cur_;
  std::deque<history_entry> history_;
  std::vector<library> abandoned_;
  // Retired versions a swap_participant keeps mapped (live objects), and its way back in.
  struct kept_version {
    std::unique_ptr<version> v;
    live_event base;
    bool keep_file = false;
  };
  std::vector<kept_version> kept_;
  std::shared_ptr<unload_channel> unload_channel_ = make_channel(this);
  std::uint64_t next_seq_ = 1;
  std::deque<std::pair<std::string, manifest>> verdicts_;  // bytes found compatible

  std::mutex q_mu_;
  std::condition_variable q_cv_, idle_cv_;
  struct pending_swap {
    std::filesystem::path path;
    swap_flags flags;
    clock::time_point requested_at;
  };
  std::optional<pending_swap> pending_;
  std::uint64_t rollback_for_ = 0;
  std::optional<error> rollback_cause_;
  std::deque<std::uint64_t> unloads_;  // kept versions to unload (request_unload)
  bool busy_ = false, stop_ = false;
  std::thread worker_;

  mutable std::mutex info_mu_;
  std::string current_version_, module_name_;
  live_stats stats_;
};

namespace detail {
live_table* const* published_slot(live_engine& e) noexcept { return e.slot(); }

void probation_call_crashed(live_table* t, const error& cause) noexcept {
  try {
    t->engine->request_rollback(t->sequence, cause);
  } catch (...) {
    // Out of memory while asking: the next crashed call asks again.
  }
}
}  // namespace detail

result<std::unique_ptr<live_module>> live_module::create(live_options options) {
  try {
    auto e = std::make_unique<live_engine>(std::move(options));
    if (auto r = e->init(); !r) return fail(r.error());
    return std::unique_ptr<live_module>(new live_module(std::move(e)));
  } catch (const std::exception& ex) {
    return fail(errc::swap_stage_failed, "", std::string("cannot create the engine: ") + ex.what());
  }
}

live_module::live_module(std::unique_ptr<live_engine> e) : engine_(std::move(e)) {}
live_module::~live_module() = default;

result<swap_timings> live_module::swap_to(const std::filesystem::path& path, swap_flags flags) {
  try {
    return engine_->swap(path, flags);
  } catch (const std::exception& e) {
    return fail(errc::swap_stage_failed, path.string(), std::string("swap failed: ") + e.what());
  }
}
void live_module::request_swap(const std::filesystem::path& path, swap_flags flags) {
  engine_->request(path, flags);
}
void live_module::wait_idle() { engine_->wait_idle(); }
result<void> live_module::rollback() {
  try {
    return engine_->rollback(std::nullopt, std::nullopt);  // asked for: the event has no cause
  } catch (const std::exception& e) {
    return fail(errc::swap_stage_failed, "", std::string("rollback failed: ") + e.what());
  }
}
std::string live_module::current_version() const { return engine_->current_version(); }
std::string live_module::module_name() const { return engine_->module_name(); }
std::filesystem::path live_module::shadow_dir() const { return engine_->shadow_dir(); }
live_stats live_module::stats() const { return engine_->stats(); }
std::vector<std::string> live_module::history_versions() const {
  return engine_->history_versions();
}

}  // namespace livemod
