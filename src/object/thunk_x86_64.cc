// Conversion thunks for x86-64 System V (object/thunk.h). Each thunk is the same few dozen
// fixed instructions with two 64-bit immediates (context and entry) written in, so the encoder
// is a list of byte strings, each commented with its assembly.
//
// The frame, from the caller's return address down (rsp is 8 mod 16 on entry, by the ABI):
//   [rbp+8]    return address          untouched: the thunk leaves by a jump, not a ret
//   [rbp]      caller's rbp            push rbp; mov rbp, rsp: profilers and debuggers
//                                      walking frame pointers see a normal frame
//   [rbp-8]    rdi, then rsi rdx rcx r8 r9, and rax at [rbp-56]: seven pushes; rax
//                                      carries al, the vector register count of a variadic call
//   [rsp+128]  8 bytes of padding       keeps rsp 16-aligned at the call, as entry expects
//   [rsp]      xmm0-7, 16 bytes each    movups: no fault even for a caller that broke the
//                                      ABI's alignment rule
// then entry(self, context) is called, its result kept in r11 (a scratch register no argument
// uses; the PLT and static-chain conventions leave r11 free), everything restored in reverse,
// and `jmp r11` enters the new method with the stack, the arguments and the return address
// exactly as the caller left them. r10 and r11 are not preserved: no C or C++ call passes
// anything in them (r10 is the static chain of GNU C nested functions, which have no vtable).
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "object/thunk.h"

namespace livemod::object_detail {
namespace {

class assembler {
 public:
  void bytes(std::initializer_list<std::uint8_t> list) { out_.insert(out_.end(), list); }
  void u64(std::uint64_t value) {
    std::uint8_t raw[8];
    std::memcpy(raw, &value, sizeof raw);  // x86-64 is little-endian, as the encoding wants
    out_.insert(out_.end(), raw, raw + sizeof raw);
  }
  // int3 up to a 16-byte boundary: each thunk starts on its own fetch block, and a stray jump
  // into the padding traps.
  void align16() {
    while (out_.size() % 16 != 0) out_.push_back(0xcc);
  }
  std::size_t size() const { return out_.size(); }
  const std::vector<std::uint8_t>& code() const { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

void emit_thunk(assembler& a, const thunk_spec& spec) {
  // endbr64: a valid indirect-branch target when CET IBT is enforced; a NOP otherwise.
  a.bytes({0xf3, 0x0f, 0x1e, 0xfa});
  a.bytes({0x55});                    // push rbp                     rsp = 0 mod 16
  a.bytes({0x48, 0x89, 0xe5});        // mov rbp, rsp
  a.bytes({0x57});                    // push rdi
  a.bytes({0x56});                    // push rsi
  a.bytes({0x52});                    // push rdx
  a.bytes({0x51});                    // push rcx
  a.bytes({0x41, 0x50});              // push r8
  a.bytes({0x41, 0x51});              // push r9
  a.bytes({0x50});                    // push rax                     rsp = 8 mod 16
  a.bytes({0x48, 0x81, 0xec, 0x88, 0x00, 0x00, 0x00});  // sub rsp, 136    rsp = 0 mod 16
  a.bytes({0x0f, 0x11, 0x04, 0x24});        // movups [rsp], xmm0
  a.bytes({0x0f, 0x11, 0x4c, 0x24, 0x10});  // movups [rsp+16], xmm1
  a.bytes({0x0f, 0x11, 0x54, 0x24, 0x20});  // movups [rsp+32], xmm2
  a.bytes({0x0f, 0x11, 0x5c, 0x24, 0x30});  // movups [rsp+48], xmm3
  a.bytes({0x0f, 0x11, 0x64, 0x24, 0x40});  // movups [rsp+64], xmm4
  a.bytes({0x0f, 0x11, 0x6c, 0x24, 0x50});  // movups [rsp+80], xmm5
  a.bytes({0x0f, 0x11, 0x74, 0x24, 0x60});  // movups [rsp+96], xmm6
  a.bytes({0x0f, 0x11, 0x7c, 0x24, 0x70});  // movups [rsp+112], xmm7
  // self: rdi holds it already, unless rdi is the hidden result pointer and `this` is second.
  if (spec.returns_in_memory) a.bytes({0x48, 0x89, 0xf7});  // mov rdi, rsi
  a.bytes({0x48, 0xbe});              // movabs rsi, context
  a.u64(reinterpret_cast<std::uintptr_t>(spec.context));
  a.bytes({0x48, 0xb8});              // movabs rax, entry
  a.u64(reinterpret_cast<std::uintptr_t>(spec.entry));
  a.bytes({0xff, 0xd0});              // call rax
  a.bytes({0x49, 0x89, 0xc3});        // mov r11, rax                 where to go
  a.bytes({0x0f, 0x10, 0x04, 0x24});        // movups xmm0, [rsp]
  a.bytes({0x0f, 0x10, 0x4c, 0x24, 0x10});  // movups xmm1, [rsp+16]
  a.bytes({0x0f, 0x10, 0x54, 0x24, 0x20});  // movups xmm2, [rsp+32]
  a.bytes({0x0f, 0x10, 0x5c, 0x24, 0x30});  // movups xmm3, [rsp+48]
  a.bytes({0x0f, 0x10, 0x64, 0x24, 0x40});  // movups xmm4, [rsp+64]
  a.bytes({0x0f, 0x10, 0x6c, 0x24, 0x50});  // movups xmm5, [rsp+80]
  a.bytes({0x0f, 0x10, 0x74, 0x24, 0x60});  // movups xmm6, [rsp+96]
  a.bytes({0x0f, 0x10, 0x7c, 0x24, 0x70});  // movups xmm7, [rsp+112]
  a.bytes({0x48, 0x81, 0xc4, 0x88, 0x00, 0x00, 0x00});  // add rsp, 136
  a.bytes({0x58});                    // pop rax
  a.bytes({0x41, 0x59});              // pop r9
  a.bytes({0x41, 0x58});              // pop r8
  a.bytes({0x59});                    // pop rcx
  a.bytes({0x5a});                    // pop rdx
  a.bytes({0x5e});                    // pop rsi
  a.bytes({0x5f});                    // pop rdi
  a.bytes({0x5d});                    // pop rbp                      rsp as on entry
  a.bytes({0x41, 0xff, 0xe3});        // jmp r11
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
