// What every architecture's thunk_block shares; the emitters are thunk_<arch>.cc.
#include "object/thunk.h"

#include <cstring>

namespace livemod::object_detail {

result<thunk_block> thunk_block::create(std::span<const thunk_spec> specs) {
  if (!supported()) {
    return fail(errc::unsupported_platform, "",
                "this build has no conversion thunk emitter for its architecture (only x86-64 "
                "System V and AArch64 have one)",
                "use the portable object mode");
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].entry == nullptr) {
      return fail(errc::code_memory_failed, "", "thunk " + std::to_string(i) + " has no entry function",
                  "give every thunk_spec an entry");
    }
  }
  std::vector<std::size_t> offsets;
  offsets.reserve(specs.size());
  const std::vector<std::uint8_t> bytes = emit_thunks(specs, offsets);
  auto code = os::code_region::create(bytes.size());
  if (!code) return fail(std::move(code).error());
  if (!bytes.empty()) std::memcpy(code->writable(), bytes.data(), bytes.size());
  // seal() makes the region executable and never writable again, and on AArch64 cleans the
  // data cache and invalidates the instruction cache over it (__builtin___clear_cache):
  // without that a core may run stale bytes from a reused page.
  if (auto sealed = code->seal(); !sealed) return fail(std::move(sealed).error());
  return thunk_block(std::move(*code), std::move(offsets));
}

const void* thunk_block::address(std::size_t i) const noexcept {
  if (i >= offsets_.size()) return nullptr;
  return static_cast<const char*>(code_.executable()) + offsets_[i];
}

}  // namespace livemod::object_detail
