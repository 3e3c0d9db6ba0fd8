// Generated machine code and patched read-only data, under W^X: a page is writable or
// executable, never both at once.
//
//   auto code = livemod::os::code_region::create(bytes.size());   // result<code_region>
//   std::memcpy(code->writable(), bytes.data(), bytes.size());      // RW while being filled
//   code->seal();                                                   // then RX, icache flushed
//   auto fn = reinterpret_cast<void (*)()>(code->executable());
//
//   livemod::os::patch_pointers(&vtable[0], {thunk0, thunk1});      // RELRO page made RW,
//                                                                   // written, back to R
//
// Threads: a code_region is filled by one thread before seal(), then read-only. patch_pointers
// writes each pointer with one aligned atomic store, so a concurrent reader of a slot sees the
// old value or the new one; calls to it on other threads may run meanwhile (the page stays
// readable). Two patch_pointers on the same page at once must be serialised by the caller.
#pragma once

#include <cstddef>
#include <span>

#include "livemod/error.h"

namespace livemod::os {

class code_region {
 public:
  // Maps `size` bytes (rounded up to pages) read-write. Error: code_memory_failed with errno.
  static result<code_region> create(std::size_t size);
  code_region(code_region&& other) noexcept;
  code_region& operator=(code_region&& other) noexcept;
  ~code_region();  // unmaps

  // Before seal(): where to write. After: nullptr.
  void* writable() const noexcept;
  // Makes the region read+execute (never writable again) and flushes the instruction cache
  // (AArch64). Error: code_memory_failed (mprotect refused, e.g. a W^X policy).
  result<void> seal();
  // After seal(): the code's address. Before: nullptr.
  const void* executable() const noexcept;
  std::size_t size() const noexcept { return size_; }

 private:
  code_region(void* base, std::size_t size) noexcept : base_(base), size_(size) {}
  void* base_ = nullptr;
  std::size_t size_ = 0;
  bool sealed_ = false;
};

// Writes values[i] into slots[i] on pages that are read-only (a vtable in RELRO): each page is
// made read-write, the pointers stored (atomic, release), and the page given back exactly the
// protection it had (read from /proc/self/maps). Error: code_memory_failed.
// Slots on an executable page are refused (making it writable would break W^X, and making it
// non-executable would fault threads running there); slots on a page that is already writable
// are stored without any protection change. `slots` must be pointer-aligned.
result<void> patch_pointers(void** slots, std::span<void* const> values);

// What a mapping allows, as bits (the Linux PROT_* values, but callers never see <sys/mman.h>).
enum page_access : int { access_none = 0, access_read = 1, access_write = 2, access_execute = 4 };

// The access of the mapping holding `address`, read from /proc/self/maps: for tests and
// diagnostics (what a slot's page or a thunk's page allows). Error: code_memory_failed when
// the address is not mapped or the maps cannot be read.
result<int> page_access_of(const void* address);

// The seam: the three system calls code_region and patch_pointers make, as a table a test can
// replace to make them fail, in the manner of dl_api.h.
//
//   livemod::os::code_memory_sys_api fake = livemod::os::current_code_memory_sys_api();
//   fake.protect = [](void*, std::size_t, int) { errno = EACCES; return -1; };
//   livemod::os::scoped_code_memory_sys_override use(fake);
//   EXPECT_THAT(code->seal(), HasCode(errc::code_memory_failed));
//
// Threads: process-wide; override it only while no other thread makes code or patches slots.
struct code_memory_sys_api {
  // Maps `bytes` (a multiple of the page size) of anonymous private read-write memory;
  // nullptr with errno set on failure.
  void* (*map)(std::size_t bytes);
  // mprotect(2) with page_access bits. Returns 0, or -1 with errno set.
  int (*protect)(void* base, std::size_t bytes, int access);
  // munmap(2). Returns 0, or -1 with errno set.
  int (*unmap)(void* base, std::size_t bytes);
};

const code_memory_sys_api& current_code_memory_sys_api() noexcept;

class scoped_code_memory_sys_override {
 public:
  explicit scoped_code_memory_sys_override(const code_memory_sys_api& replacement) noexcept;
  ~scoped_code_memory_sys_override();
  scoped_code_memory_sys_override(const scoped_code_memory_sys_override&) = delete;
  scoped_code_memory_sys_override& operator=(const scoped_code_memory_sys_override&) = delete;

 private:
  code_memory_sys_api previous_;
};

}  // namespace livemod::os
