// Conversion thunks: machine code put in an old vtable's slots, so that the next call on an
// object of the old version converts it and then runs the new version (docs/objects.md).
// Internal to the object layer; one emitter per architecture (thunk_x86_64.cc,
// thunk_aarch64.cc), chosen at build time.
//
// A thunk for slot i, entered as that virtual method would be, with every argument in place:
//   1. saves every register that can carry an argument: x86-64 SysV rdi rsi rdx rcx r8 r9 rax
//      and xmm0-7 (128 bits); AArch64 x0-x7, x8 (indirect result) and q0-q7;
//   2. calls entry(self, context) with the C calling convention, where self is the object
//      (x86-64: rdi, or rsi when the method returns in memory and rdi holds the hidden result
//      pointer; AArch64: always x0) and context is the thunk's own;
//   3. restores them all and jumps (a tail jump, the stack exactly as on entry, so stack
//      arguments and the return address are untouched) to the address entry returned: the
//      same slot of the object's new vtable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "livemod/error.h"
#include "os/code_memory.h"

namespace livemod::object_detail {

// Converts `self` if no other thread has (once per object) and returns where to jump.
// Must not throw or unwind through the thunk.
using convert_entry_fn = const void* (*)(void* self, void* context) noexcept;

struct thunk_spec {
  convert_entry_fn entry = nullptr;
  void* context = nullptr;
  // The method returns in memory (x86-64 SysV: a class that is not trivially copyable, or
  // larger than 16 bytes), so its hidden result pointer comes first and `this` second.
  bool returns_in_memory = false;
};

// The machine code of every thunk in `specs`, each on a 16-byte boundary; offsets receives
// where each one starts. One definition per architecture (thunk_<arch>.cc); create() wraps it.
std::vector<std::uint8_t> emit_thunks(std::span<const thunk_spec> specs,
                                      std::vector<std::size_t>& offsets);

// The thunks of one vtable, in one sealed code region.
class thunk_block {
 public:
  // Errors: code_memory_failed; unsupported_platform on an architecture without an emitter.
  static result<thunk_block> create(std::span<const thunk_spec> specs);
  // The address of thunk i, to be stored in vtable slot i.
  const void* address(std::size_t i) const noexcept;
  std::size_t size() const noexcept { return offsets_.size(); }
  // Whether this build has an emitter for the machine it runs on.
  static bool supported() noexcept;

 private:
  thunk_block(os::code_region code, std::vector<std::size_t> offsets) noexcept
      : code_(std::move(code)), offsets_(std::move(offsets)) {}
  os::code_region code_;
  std::vector<std::size_t> offsets_;
};

}  // namespace livemod::object_detail
