// module_handle: one reference to a loaded module, and the startup report's table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

#include "livemod/registry.h"
#include "registry/registry_state.h"

namespace livemod {
namespace {

const std::string k_empty_name;
const semver k_empty_version;
const std::filesystem::path k_empty_path;

}  // namespace

module_handle& module_handle::operator=(module_handle&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
    record_ = std::move(other.record_);
  }
  return *this;
}

module_handle::~module_handle() { reset(); }

void module_handle::reset() noexcept {
  if (!record_) return;
  // Moved out first: whatever release does, this handle no longer holds a reference.
  auto state = std::move(state_);
  auto record = std::move(record_);
  state_.reset();
  record_.reset();
  detail::release_reference(state, record);
}

bool module_handle::loaded() const noexcept {
  return record_ && record_->state.load() != module_state::unloaded;
}

const std::string& module_handle::name() const noexcept {
  return record_ ? record_->node.name : k_empty_name;
}

const semver& module_handle::version() const noexcept {
  return record_ ? record_->node.version : k_empty_version;
}

const std::filesystem::path& module_handle::file() const noexcept {
  return record_ ? record_->node.file : k_empty_path;
}

namespace_id module_handle::where() const noexcept { return record_ ? record_->ns : default_namespace; }

std::uint32_t module_handle::abi() const noexcept { return record_ ? record_->abi.load() : 0; }

std::size_t module_handle::references() const noexcept {
  return record_ ? record_->handles.load() : 0;
}

result<void*> module_handle::raw_symbol(std::string_view symbol_name) const {
  if (!record_) {
    return fail(errc::module_unloaded, "", "the handle is empty", "use a handle that load returned");
  }
  std::lock_guard lock(record_->lib_mutex);
  if (!record_->lib) {
    return fail(errc::module_unloaded, record_->node.name,
                "was unloaded (a cascade or the registry's end), so " + std::string(symbol_name) +
                    " is gone with it",
                "load the module again");
  }
  return record_->lib.raw_symbol(symbol_name);
}

namespace {

std::string millis(std::chrono::nanoseconds ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(ns.count()) / 1e6);
  return text;
}

std::string pad(std::string s, std::size_t width, bool right) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

std::string format_timings(std::span<const module_timing> rows, std::chrono::nanoseconds resolve) {
  std::size_t name_w = std::string_view("module").size();
  std::size_t version_w = std::string_view("version").size();
  std::size_t ns_w = std::string_view("namespace").size();
  for (const module_timing& r : rows) {
    name_w = std::max(name_w, r.module.size());
    version_w = std::max(version_w, r.version.size());
    ns_w = std::max(ns_w, r.namespace_name.size());
  }
  constexpr std::size_t num_w = 11;
  auto line = [&](const std::string& name, const std::string& version, const std::string& ns,
                  const std::string& check, const std::string& map, const std::string& init,
                  const std::string& total) {
    return pad(name, name_w, false) + "  " + pad(version, version_w, false) + "  " +
           pad(ns, ns_w, false) + "  " + pad(check, num_w, true) + "  " + pad(map, num_w, true) +
           "  " + pad(init, num_w, true) + "  " + pad(total, num_w, true) + "\n";
  };
  std::string out = line("module", "version", "namespace", "check ms", "map ms", "init ms", "total ms");
  std::chrono::nanoseconds check{}, map{}, init{};
  for (const module_timing& r : rows) {
    out += line(r.module, r.version, r.namespace_name,
                r.preflight_cached ? "cached" : millis(r.check), millis(r.map), millis(r.init),
                millis(r.total()));
    check += r.check;
    map += r.map;
    init += r.init;
  }
  out += line("total (" + std::to_string(rows.size()) + ")", "", "", millis(check), millis(map),
              millis(init), millis(check + map + init));
  if (resolve.count() != 0) out += "resolve (whole graph): " + millis(resolve) + " ms\n";
  return out;
}

}  // namespace livemod
