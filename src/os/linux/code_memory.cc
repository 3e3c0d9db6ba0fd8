// os/code_memory.h on Linux: anonymous mappings filled read-write and sealed read+execute, and
// pointer stores into read-only pages (vtables in RELRO) that give each page back the
// protection /proc/self/maps says it had. No page is ever writable and executable at once.
#include "os/code_memory.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livemod::os {
namespace {

std::size_t page_size() noexcept { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

int to_prot(int access) noexcept {
  int prot = PROT_NONE;
  if ((access & access_read) != 0) prot |= PROT_READ;
  if ((access & access_write) != 0) prot |= PROT_WRITE;
  if ((access & access_execute) != 0) prot |= PROT_EXEC;
  return prot;
}

void* system_map(std::size_t bytes) {
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return base == MAP_FAILED ? nullptr : base;
}

int system_protect(void* base, std::size_t bytes, int access) {
  return mprotect(base, bytes, to_prot(access));
}

int system_unmap(void* base, std::size_t bytes) { return munmap(base, bytes); }

// Constant-initialised, so usable from other translation units' static initialisers.
constinit code_memory_sys_api current_table{&system_map, &system_protect, &system_unmap};

std::string errno_text(int value) {
  char buffer[256];
  // The GNU strerror_r returns the text, which may or may not be in `buffer`.
  return strerror_r(value, buffer, sizeof buffer);
}

std::string hex(std::uintptr_t value) {
  char buffer[2 + 16];
  buffer[0] = '0';
  buffer[1] = 'x';
  auto [end, ec] = std::to_chars(buffer + 2, buffer + sizeof buffer, value, 16);
  (void)ec;
  return std::string(buffer, end);
}

std::string access_text(int access) {
  std::string text = "---";
  if ((access & access_read) != 0) text[0] = 'r';
  if ((access & access_write) != 0) text[1] = 'w';
  if ((access & access_execute) != 0) text[2] = 'x';
  return text;
}

// One line of /proc/self/maps, clipped to nothing: [begin, end) and its access bits.
struct mapping {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  int access = access_none;
};

// The whole of /proc/self/maps, read with plain read(2): it is generated as it is read, so a
// file size is meaningless, and stdio would allocate behind our back for no gain.
result<std::string> read_maps() {
  const int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int saved = errno;
    return fail(error(errc::code_memory_failed, "/proc/self/maps", "cannot open the memory map",
                      "mount /proc; livemod reads it to restore page protections")
                    .with_os_text(errno_text(saved)));
  }
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return fail(error(errc::code_memory_failed, "/proc/self/maps", "cannot read the memory map",
                        "mount /proc; livemod reads it to restore page protections")
                      .with_os_text(errno_text(saved)));
    }
    text.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return text;
}

// "7f00-7f10 r--p ...": the range and the first three permission letters. Other fields are
// not needed. Returns false for a line that does not parse.
bool parse_maps_line(std::string_view line, mapping& out) {
  const char* p = line.data();
  const char* end = p + line.size();
  auto r = std::from_chars(p, end, out.begin, 16);
  if (r.ec != std::errc() || r.ptr == end || *r.ptr != '-') return false;
  r = std::from_chars(r.ptr + 1, end, out.end, 16);
  if (r.ec != std::errc() || end - r.ptr < 4 || *r.ptr != ' ') return false;
  const char* perms = r.ptr + 1;
  out.access = access_none;
  if (perms[0] == 'r') out.access |= access_read;
  if (perms[1] == 'w') out.access |= access_write;
  if (perms[2] == 'x') out.access |= access_execute;
  return true;
}

// The mappings covering [begin, end), clipped to it, in address order; an error when a byte of
// the range is not mapped. The kernel lists mappings sorted and without overlap.
result<std::vector<mapping>> mappings_over(std::uintptr_t begin, std::uintptr_t end) {
  auto text = read_maps();
  if (!text) return fail(std::move(text).error());
  std::vector<mapping> found;
  std::uintptr_t next = begin;
  std::string_view rest = *text;
  while (!rest.empty() && next < end) {
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    mapping m;
    if (!parse_maps_line(line, m) || m.end <= next) continue;
    if (m.begin > next) break;  // a hole at `next`
    found.push_back(mapping{next, m.end < end ? m.end : end, m.access});
    next = found.back().end;
  }
  if (next < end) {
    return fail(errc::code_memory_failed, hex(next),
                "the address is not mapped in this process",
                "pass the address of a live vtable or code region");
  }
  return found;
}

// The cache maintenance above reaches every core's caches, but the architecture (ARM ARM,
// "concurrent modification and execution") still asks each other core to execute a context
// synchronisation event before it runs the new bytes: a core may hold instructions it fetched
// from this address earlier, when an older code region was mapped here. The thunks' addresses
// are published only after seal() returns, so one membarrier(SYNC_CORE) here is enough. Best
// effort: a kernel without it (before 4.16, or qemu-user) leaves what the cache flush gives,
// which is all a core that never ran this address needs.
void synchronise_other_cores() noexcept {
#if defined(__aarch64__) && defined(SYS_membarrier)
  static const bool registered =
      syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0;
  if (registered) syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0);
#endif
}

}  // namespace

const code_memory_sys_api& current_code_memory_sys_api() noexcept { return current_table; }

scoped_code_memory_sys_override::scoped_code_memory_sys_override(
    const code_memory_sys_api& replacement) noexcept
    : previous_(current_table) {
  current_table = replacement;
}

scoped_code_memory_sys_override::~scoped_code_memory_sys_override() {
  current_table = previous_;
}

result<code_region> code_region::create(std::size_t size) {
  const std::size_t page = page_size();
  // An empty region still gets one page: executable() then has an address like any other.
  const std::size_t bytes = size == 0 ? page : (size + page - 1) / page * page;
  void* base = current_table.map(bytes);
  if (base == nullptr) {
    const int saved = errno;
    return fail(error(errc::code_memory_failed, "",
                      "cannot map " + std::to_string(bytes) + " bytes for generated code",
                      "free memory, or raise the process's map count limit (vm.max_map_count)")
                    .with_os_text(errno_text(saved)));
  }
  return code_region(base, bytes);
}

code_region::code_region(code_region&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      sealed_(std::exchange(other.sealed_, false)) {}

code_region& code_region::operator=(code_region&& other) noexcept {
  if (this != &other) {
    if (base_ != nullptr) current_table.unmap(base_, size_);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    sealed_ = std::exchange(other.sealed_, false);
  }
  return *this;
}

// An unmap that fails leaves the pages mapped: a leak of address space, nothing worse, and a
// destructor has no one to tell.
code_region::~code_region() {
  if (base_ != nullptr) current_table.unmap(base_, size_);
}

void* code_region::writable() const noexcept { return sealed_ ? nullptr : base_; }

const void* code_region::executable() const noexcept { return sealed_ ? base_ : nullptr; }

result<void> code_region::seal() {
  if (sealed_) return {};
  if (base_ == nullptr) {
    return fail(errc::code_memory_failed, "", "seal() on an empty (moved-from) code region",
                "seal the region the code was written to");
  }
  // Never R+W+X: the region goes straight from RW to RX.
  if (current_table.protect(base_, size_, access_read | access_execute) != 0) {
    const int saved = errno;
    return fail(error(errc::code_memory_failed, hex(reinterpret_cast<std::uintptr_t>(base_)),
                      "cannot make " + std::to_string(size_) +
                          " bytes of generated code executable",
                      "the system refuses executable anonymous memory (an SELinux execmem or "
                      "PaX MPROTECT policy); use the portable object mode")
                    .with_os_text(errno_text(saved)));
  }
  // AArch64 (and any machine whose instruction cache does not snoop data writes) fetches stale
  // bytes unless the written lines are cleaned to the point of unification and the
  // instruction cache invalidated; on x86 this compiles to nothing.
  char* begin = static_cast<char*>(base_);
  __builtin___clear_cache(begin, begin + size_);
  synchronise_other_cores();
  sealed_ = true;
  return {};
}

result<void> patch_pointers(void** slots, std::span<void* const> values) {
  if (values.empty()) return {};
  const auto first = reinterpret_cast<std::uintptr_t>(slots);
  if (first % alignof(void*) != 0) {
    return fail(errc::code_memory_failed, hex(first), "the slots are not pointer-aligned",
                "pass the address of a vtable slot");
  }
  const std::size_t page = page_size();
  const std::uintptr_t begin = first / page * page;
  const std::uintptr_t last = first + values.size() * sizeof(void*);
  const std::uintptr_t end = (last + page - 1) / page * page;

  auto found = mappings_over(begin, end);
  if (!found) return fail(std::move(found).error());
  for (const mapping& m : *found) {
    if ((m.access & access_execute) != 0) {
      return fail(errc::code_memory_failed, hex(first),
                  "the slots are on an executable page (" + access_text(m.access) +
                      "); writing there would make it writable and executable",
                  "patch only data (vtables in .data.rel.ro); link with -z separate-code");
    }
  }

  // Make writable whatever is not. A failure undoes what was done, so nothing has changed.
  std::vector<const mapping*> opened;
  for (const mapping& m : *found) {
    if ((m.access & access_write) != 0) continue;
    void* base = reinterpret_cast<void*>(m.begin);
    if (current_table.protect(base, m.end - m.begin, m.access | access_write) != 0) {
      const int saved = errno;
      for (const mapping* done : opened) {
        current_table.protect(reinterpret_cast<void*>(done->begin), done->end - done->begin,
                              done->access);
      }
      return fail(error(errc::code_memory_failed, hex(m.begin),
                        "cannot make the page holding the slots writable (it is " +
                            access_text(m.access) + ")",
                        "the system refuses mprotect on this mapping; use the portable object "
                        "mode")
                      .with_os_text(errno_text(saved)));
    }
    opened.push_back(&m);
  }

  // One aligned store each: a thread calling through a slot meanwhile reads the old pointer or
  // the new one, and whoever reads the new one sees the code it points to (release).
  for (std::size_t i = 0; i < values.size(); ++i) {
    __atomic_store_n(&slots[i], values[i], __ATOMIC_RELEASE);
  }

  // Back to exactly what each page had. A failure here leaves pages writable: said loudly,
  // since the values are in place and callers may go on.
  result<void> outcome;
  for (const mapping* m : opened) {
    if (current_table.protect(reinterpret_cast<void*>(m->begin), m->end - m->begin, m->access) !=
            0 &&
        outcome) {
      const int saved = errno;
      outcome = fail(error(errc::code_memory_failed, hex(m->begin),
                           "the slots were written but the page cannot be made " +
                               access_text(m->access) + " again; it stays writable",
                           "the system refuses mprotect on this mapping")
                         .with_os_text(errno_text(saved)));
    }
  }
  return outcome;
}

result<int> page_access_of(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  auto found = mappings_over(at, at + 1);
  if (!found) return fail(std::move(found).error());
  return found->front().access;
}

}  // namespace livemod::os
