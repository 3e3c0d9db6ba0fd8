#include "livemod/error.h"

#include <utility>

namespace livemod {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::file_not_found: return "file_not_found";
    case errc::permission_denied: return "permission_denied";
    case errc::not_a_regular_file: return "not_a_regular_file";
    case errc::io_error: return "io_error";
    case errc::not_elf: return "not_elf";
    case errc::wrong_class: return "wrong_class";
    case errc::wrong_arch: return "wrong_arch";
    case errc::missing_dependency: return "missing_dependency";
    case errc::undefined_symbol: return "undefined_symbol";
    case errc::symbol_version_missing: return "symbol_version_missing";
    case errc::symbol_not_found: return "symbol_not_found";
    case errc::load_failed: return "load_failed";
    case errc::close_failed: return "close_failed";
    case errc::init_failed: return "init_failed";
    case errc::module_in_use: return "module_in_use";
    case errc::namespace_conflict: return "namespace_conflict";
    case errc::namespace_limit: return "namespace_limit";
    case errc::module_unloaded: return "module_unloaded";
    case errc::isolation_unavailable: return "isolation_unavailable";
    case errc::empty_file: return "empty_file";
    case errc::truncated: return "truncated";
    case errc::corrupt_elf: return "corrupt_elf";
    case errc::not_shared_object: return "not_shared_object";
    case errc::manifest_missing: return "manifest_missing";
    case errc::manifest_bad_json: return "manifest_bad_json";
    case errc::manifest_schema: return "manifest_schema";
    case errc::manifest_bad_version: return "manifest_bad_version";
    case errc::manifest_bad_range: return "manifest_bad_range";
    case errc::bad_module_name: return "bad_module_name";
    case errc::module_not_found: return "module_not_found";
    case errc::dependency_cycle: return "dependency_cycle";
    case errc::version_unsatisfied: return "version_unsatisfied";
    case errc::duplicate_module: return "duplicate_module";
    case errc::incompatible: return "incompatible";
    case errc::arch_mismatch: return "arch_mismatch";
    case errc::class_mismatch: return "class_mismatch";
    case errc::symbol_version_unavailable: return "symbol_version_unavailable";
    case errc::needed_not_found: return "needed_not_found";
    case errc::unresolved_symbol: return "unresolved_symbol";
    case errc::fingerprint_mismatch: return "fingerprint_mismatch";
    case errc::abi_unsupported: return "abi_unsupported";
    case errc::image_pinned: return "image_pinned";
    case errc::module_crashed: return "module_crashed";
    case errc::stack_overflow: return "stack_overflow";
    case errc::guard_unavailable: return "guard_unavailable";
    case errc::watch_failed: return "watch_failed";
    case errc::file_incomplete: return "file_incomplete";
    case errc::swap_stage_failed: return "swap_stage_failed";
    case errc::swap_preflight_failed: return "swap_preflight_failed";
    case errc::module_renamed: return "module_renamed";
    case errc::interface_incompatible: return "interface_incompatible";
    case errc::downgrade_refused: return "downgrade_refused";
    case errc::on_load_timeout: return "on_load_timeout";
    case errc::state_migration_failed: return "state_migration_failed";
    case errc::health_check_failed: return "health_check_failed";
    case errc::unload_incomplete: return "unload_incomplete";
    case errc::no_previous_version: return "no_previous_version";
    case errc::no_version_loaded: return "no_version_loaded";
    case errc::control_failed: return "control_failed";
    case errc::code_memory_failed: return "code_memory_failed";
    case errc::unsupported_platform: return "unsupported_platform";
    case errc::class_not_found: return "class_not_found";
    case errc::interface_not_supported: return "interface_not_supported";
    case errc::converter_missing: return "converter_missing";
    case errc::conversion_failed: return "conversion_failed";
    case errc::object_interface_shrank: return "object_interface_shrank";
    case errc::object_layout_changed: return "object_layout_changed";
  }
  return "unknown";
}

error::error(errc code, std::string file, std::string cause, std::string remedy)
    : code_(code), file_(std::move(file)), cause_(std::move(cause)), remedy_(std::move(remedy)) {}

error& error::with_os_text(std::string text) & {
  os_text_ = std::move(text);
  return *this;
}

error&& error::with_os_text(std::string text) && {
  os_text_ = std::move(text);
  return std::move(*this);
}

std::string error::message() const {
  std::string out;
  if (!file_.empty()) out += file_ + ": ";
  out += cause_;
  if (!remedy_.empty()) out += "; " + remedy_;
  return out;
}

std::string error::describe() const {
  return "E" + std::to_string(static_cast<int>(code_)) + " " + std::string(to_string(code_)) +
         ": " + message();
}

}  // namespace livemod
