// Conversion thunks for AArch64 (AAPCS64, object/thunk.h). Each thunk is 27 fixed 32-bit
// instructions (and a nop) followed by a literal pool of two 64-bit words (context, entry) that two
// PC-relative loads read, so the encoder writes fixed words, each commented with its assembly,
// and computes only the two literal offsets.
//
// The frame, 224 bytes, 16-aligned as AAPCS64 requires of sp at all times:
//   [sp]       x29, x30         a frame record (x29 points at it): unwinders and profilers
//                               walking frame pointers see a normal frame, and x30 (the
//                               caller's return address) survives the call to entry
//   [sp+16]    x0-x7            integer and pointer arguments; x0 is `this`
//   [sp+80]    x8               the indirect result location (a struct returned in memory)
//   [sp+88]    8 bytes of padding, so the q registers are 16-aligned
//   [sp+96]    q0-q7            all 128 bits: floating-point and vector arguments, HFAs and
//                               HVAs, and long double (binary128 in q registers)
// entry(self = x0, context) is called with x0 as it came, its result moved to x16 (IP0: the
// linker's veneers and PLT stubs already clobber it between caller and callee, so no caller
// relies on it, and a `br x16` lands on a `bti c` pad where BTI is enforced), everything
// restored, the frame popped so sp is as on entry, and `br x16` enters the new method with the
// return address still in x30. x9-x15, x17 are not preserved: AAPCS64 passes nothing in them.
#include <cstdint>
#include <cstring>
#include <vector>

#include "object/thunk.h"

namespace livemod::object_detail {
namespace {

class assembler {
 public:
  void word(std::uint32_t instruction) { append(&instruction, sizeof instruction); }
  void u64(std::uint64_t value) { append(&value, sizeof value); }
  std::size_t size() const { return out_.size(); }
  // `udf #0` words up to a 16-byte boundary: each thunk starts its own fetch block, and a
  // stray branch into the padding traps.
  void align16() {
    while (out_.size() % 16 != 0) word(0x00000000);  // udf #0
  }
  // LDR (literal) of the 64-bit word at `literal`, from the instruction at `at` (both byte
  // offsets in this buffer): 0x58000000 | imm19 << 5 | Rt, imm19 in words, forward here.
  void patch_load_literal(std::size_t at, std::size_t literal, unsigned rt) {
    const auto words = static_cast<std::uint32_t>((literal - at) / 4);
    const std::uint32_t instruction = 0x58000000u | (words << 5) | rt;
    std::memcpy(out_.data() + at, &instruction, sizeof instruction);
  }
  const std::vector<std::uint8_t>& code() const { return out_; }

 private:
  // AArch64 Linux is little-endian (aarch64_be is not a target here), as is the instruction
  // stream on every AArch64 machine.
  void append(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    out_.insert(out_.end(), p, p + bytes);
  }
  std::vector<std::uint8_t> out_;
};

void emit_thunk(assembler& a, const thunk_spec& spec) {
  // self is x0 whether or not the method returns in memory: AAPCS64 passes that address in x8,
  // so spec.returns_in_memory changes nothing here.
  a.word(0xd503245f);  // bti c                          a NOP where BTI is not in force
  a.word(0xa9b27bfd);  // stp x29, x30, [sp, #-224]!
  a.word(0x910003fd);  // mov x29, sp
  a.word(0xa90107e0);  // stp x0, x1, [sp, #16]
  a.word(0xa9020fe2);  // stp x2, x3, [sp, #32]
  a.word(0xa90317e4);  // stp x4, x5, [sp, #48]
  a.word(0xa9041fe6);  // stp x6, x7, [sp, #64]
  a.word(0xf9002be8);  // str x8, [sp, #80]
  a.word(0xad0307e0);  // stp q0, q1, [sp, #96]
  a.word(0xad040fe2);  // stp q2, q3, [sp, #128]
  a.word(0xad0517e4);  // stp q4, q5, [sp, #160]
  a.word(0xad061fe6);  // stp q6, q7, [sp, #192]
  const std::size_t load_context = a.size();
  a.word(0);           // ldr x1, context                (patched below)
  const std::size_t load_entry = a.size();
  a.word(0);           // ldr x16, entry                 (patched below)
  a.word(0xd63f0200);  // blr x16
  a.word(0xaa0003f0);  // mov x16, x0                    where to go
  a.word(0xad4307e0);  // ldp q0, q1, [sp, #96]
  a.word(0xad440fe2);  // ldp q2, q3, [sp, #128]
  a.word(0xad4517e4);  // ldp q4, q5, [sp, #160]
  a.word(0xad461fe6);  // ldp q6, q7, [sp, #192]
  a.word(0xf9402be8);  // ldr x8, [sp, #80]
  a.word(0xa94107e0);  // ldp x0, x1, [sp, #16]
  a.word(0xa9420fe2);  // ldp x2, x3, [sp, #32]
  a.word(0xa94317e4);  // ldp x4, x5, [sp, #48]
  a.word(0xa9441fe6);  // ldp x6, x7, [sp, #64]
  a.word(0xa8ce7bfd);  // ldp x29, x30, [sp], #224      sp as on entry
  a.word(0xd61f0200);  // br x16
  // The pool, 8-aligned so each literal is one naturally aligned load.
  while (a.size() % 8 != 0) a.word(0xd503201f);  // nop (never reached: after br)
  const std::size_t context_literal = a.size();
  a.u64(reinterpret_cast<std::uintptr_t>(spec.context));
  const std::size_t entry_literal = a.size();
  a.u64(reinterpret_cast<std::uintptr_t>(spec.entry));
  a.patch_load_literal(load_context, context_literal, 1);  // x1
  a.patch_load_literal(load_entry, entry_literal, 16);     // x16
}

}  // namespace

std::vector<std::uint8_t> emit_thunks(std::span<const thunk_spec> specs,
                                      std::vector<std::size_t>& offsets) {
  assembler a;
  for (const thunk_spec& spec : specs) {
    a.align16();
    offsets.push_back(a.size());
    emit_thunk(a, spec);
  }
  return a.code();
}

bool thunk_block::supported() noexcept { return true; }

}  // namespace livemod::object_detail
