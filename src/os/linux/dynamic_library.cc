// library (livemod/library.h) on Linux: dlopen/dlsym/dlclose through the dl_api seam, and the
// translation of a failed dlopen into a code and a sentence that says what to do.
//
// glibc's dlerror text is accurate but sometimes misleading: a library for another machine is
// reported as "cannot open shared object file: No such file or directory", and a text file as
// "file too short". So after a failure (never before: a successful open does no extra I/O) a
// path is checked by hand: stat, open, and the first 20 bytes of its ELF header. Only when the
// file itself looks loadable does the dlerror text decide the class. This layer comes before
// the image layer, so it reads those bytes itself.
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "livemod/library.h"
#include "os/dl_api.h"

namespace livemod {
namespace os {
namespace {

// Constant-initialised, so it is usable from other translation units' static initialisers.
constinit dl_api current_table{&::dlopen, &::dlsym, &::dlclose, &::dlerror};

}  // namespace

const dl_api& current_dl_api() noexcept { return current_table; }

scoped_dl_api_override::scoped_dl_api_override(const dl_api& replacement) noexcept
    : previous_(current_table) {
  current_table = replacement;
}

scoped_dl_api_override::~scoped_dl_api_override() { current_table = previous_; }

}  // namespace os

namespace {

// dlerror's state is per thread in glibc and musl, but POSIX does not promise it: a failing
// dlopen on one thread could otherwise read the text of another thread's failure. The lock is
// recursive because dlopen runs constructors, and a constructor may open a library itself;
// glibc holds its own recursive load lock around the same calls, so this adds no new wait.
std::recursive_mutex& dl_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

// dlerror() returns NULL when nothing failed; reading it also clears it.
std::optional<std::string> take_dlerror(const os::dl_api& api) {
  const char* text = api.dlerror();
  if (text == nullptr) return std::nullopt;
  return std::string(text);
}

int to_rtld_mode(open_flags flags) {
  int mode = has(flags, open_flags::now) ? RTLD_NOW : RTLD_LAZY;
  mode |= has(flags, open_flags::global) ? RTLD_GLOBAL : RTLD_LOCAL;
  if (has(flags, open_flags::nodelete)) mode |= RTLD_NODELETE;
  if (has(flags, open_flags::noload)) mode |= RTLD_NOLOAD;
  if (has(flags, open_flags::deepbind)) mode |= RTLD_DEEPBIND;
  return mode;
}

// "_ZN3foo3barEi (foo::bar(int))": the linker's name to search for, and the one people wrote.
std::string with_demangled(const std::string& name) {
  if (!name.starts_with("_Z")) return name;
  struct free_deleter {
    void operator()(char* p) const noexcept { std::free(p); }
  };
  int status = 0;
  std::unique_ptr<char, free_deleter> readable(
      abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status));
  if (status != 0 || !readable) return name;
  return name + " (" + readable.get() + ")";
}

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string octal(unsigned value) {
  std::array<char, 16> digits{};
  auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value, 8).ptr;
  std::string out(digits.data(), end);
  return std::string(out.size() < 4 ? 4 - out.size() : 0, '0') + out;
}

std::string hex_bytes(const unsigned char* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0) out += ' ';
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 0xf];
  }
  return out;
}

// --- what this process is --------------------------------------------------------------------

constexpr unsigned char host_class = sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32;
constexpr unsigned char host_data =
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;

// EM_NONE where the machine is not known here: then no file is called foreign.
constexpr std::uint16_t host_machine =
#if defined(__x86_64__)
    EM_X86_64;
#elif defined(__i386__)
    EM_386;
#elif defined(__aarch64__)
    EM_AARCH64;
#elif defined(__arm__)
    EM_ARM;
#elif defined(__riscv)
    EM_RISCV;
#elif defined(__powerpc64__)
    EM_PPC64;
#elif defined(__powerpc__)
    EM_PPC;
#elif defined(__s390__)
    EM_S390;
#elif defined(__mips__)
    EM_MIPS;
#elif defined(__loongarch__)
    258;  // EM_LOONGARCH, absent from older <elf.h>
#else
    EM_NONE;
#endif

std::string machine_name(std::uint16_t machine) {
  switch (machine) {
    case EM_X86_64: return "x86_64";
    case EM_386: return "i386";
    case EM_AARCH64: return "aarch64";
    case EM_ARM: return "arm";
    case EM_RISCV: return "riscv";
    case EM_PPC64: return "ppc64";
    case EM_PPC: return "ppc";
    case EM_S390: return "s390";
    case EM_MIPS: return "mips";
    case EM_SPARCV9: return "sparcv9";
    case EM_IA_64: return "ia64";
    case 258: return "loongarch";
    default: return "an unknown machine";
  }
}

const char* class_name(unsigned char elf_class) {
  return elf_class == ELFCLASS64 ? "64-bit (ELFCLASS64)" : "32-bit (ELFCLASS32)";
}

// --- the file itself ---------------------------------------------------------------------------

std::string relative_note(const std::string& file) {
  if (file.starts_with('/')) return {};
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  if (ec) return {};
  return " (relative to the working directory " + cwd.string() + ")";
}

std::string file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

std::uint16_t read_u16(const unsigned char* p, unsigned char data) {
  auto lo = data == ELFDATA2LSB ? p[0] : p[1];
  auto hi = data == ELFDATA2LSB ? p[1] : p[0];
  return static_cast<std::uint16_t>(lo | (hi << 8));
}

// The first bytes of the ELF header: e_ident (16), e_type (2), e_machine (2).
constexpr std::size_t header_bytes = 20;

std::optional<error> check_header(const std::string& file, const unsigned char* bytes,
                                  std::size_t n) {
  if (n == 0) {
    return error(errc::not_elf, file, "is empty (0 bytes), not a shared library",
                 "rebuild it; an empty file is often what an interrupted build leaves");
  }
  if (n < SELFMAG || std::memcmp(bytes, ELFMAG, SELFMAG) != 0) {
    const std::string_view start(reinterpret_cast<const char*>(bytes), n);
    if (start.starts_with("/* GNU ld script") || start.starts_with("GROUP") ||
        start.starts_with("INPUT")) {
      return error(errc::not_elf, file, "is a linker script, not a shared library",
                   "open the library its GROUP or INPUT line names");
    }
    const std::size_t shown = n < SELFMAG ? n : SELFMAG;
    return error(errc::not_elf, file,
                 "is not an ELF file (it starts with " + hex_bytes(bytes, shown) +
                     ", not 7f 45 4c 46)",
                 "pass a shared library (.so) built for this system");
  }
  // Short or corrupt headers are left to the dynamic linker's text ("file too short").
  if (n < header_bytes) return std::nullopt;
  const unsigned char elf_class = bytes[EI_CLASS];
  const unsigned char data = bytes[EI_DATA];
  if ((elf_class != ELFCLASS32 && elf_class != ELFCLASS64) ||
      (data != ELFDATA2LSB && data != ELFDATA2MSB)) {
    return std::nullopt;
  }
  if (elf_class != host_class) {
    return error(errc::wrong_class, file,
                 std::string("is a ") + class_name(elf_class) + " library, this process is " +
                     class_name(host_class),
                 std::string("use a ") + (host_class == ELFCLASS64 ? "64" : "32") +
                     "-bit build of the library");
  }
  const std::uint16_t machine = read_u16(bytes + 18, data);
  if (data != host_data) {
    return error(errc::wrong_arch, file,
                 std::string("is ") + (data == ELFDATA2MSB ? "big" : "little") +
                     "-endian and built for " + machine_name(machine) + " (e_machine " +
                     std::to_string(machine) + "), this process is " +
                     (host_data == ELFDATA2MSB ? "big" : "little") + "-endian " +
                     machine_name(host_machine) + " (" + std::to_string(host_machine) + ")",
                 "use the " + machine_name(host_machine) + " build of the library");
  }
  if (host_machine != EM_NONE && machine != host_machine) {
    return error(errc::wrong_arch, file,
                 "built for " + machine_name(machine) + " (e_machine " +
                     std::to_string(machine) + "), this process is " +
                     machine_name(host_machine) + " (" + std::to_string(host_machine) + ")",
                 "use the " + machine_name(host_machine) + " build of the library, or rebuild it for " +
                     machine_name(host_machine));
  }
  const std::uint16_t type = read_u16(bytes + 16, data);
  if (type == ET_REL) {
    return error(errc::load_failed, file,
                 "is a relocatable object file (ET_REL), not a shared library",
                 "link it into a shared library first (g++ -shared)");
  }
  if (type == ET_CORE) {
    return error(errc::load_failed, file, "is a core dump, not a shared library",
                 "pass a shared library");
  }
  return std::nullopt;
}

// Why `file` (a path with a '/') cannot be loaded, when the file itself is the reason.
std::optional<error> check_file(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      struct stat link_info {};
      std::array<char, 4096> target{};
      if (::lstat(file.c_str(), &link_info) == 0 && S_ISLNK(link_info.st_mode)) {
        const ssize_t len = ::readlink(file.c_str(), target.data(), target.size() - 1);
        const std::string to = len > 0 ? std::string(target.data(), static_cast<std::size_t>(len))
                                       : std::string("a missing file");
        return error(errc::file_not_found, file,
                     "is a symbolic link to " + to + ", which does not exist",
                     "build or install the file it points to, or fix the link");
      }
      return error(errc::file_not_found, file, "no such file" + relative_note(file),
                   "check the path, or build the module first");
    }
    if (err == ENOTDIR) {
      return error(errc::file_not_found, file, "a component of the path is not a directory",
                   "check the path");
    }
    if (err == EACCES) {
      return error(errc::permission_denied, file,
                   "a directory on the path cannot be searched by this process (uid " +
                       std::to_string(::geteuid()) + ")",
                   "give the directories on the path search permission (chmod a+x) or run as "
                   "a user who can");
    }
    return std::nullopt;  // ELOOP, ENAMETOOLONG, EIO...: the linker's text says it as well
  }
  if (!S_ISREG(st.st_mode)) {
    return error(errc::not_a_regular_file, file,
                 "is " + file_kind(st.st_mode) + ", not a shared library file",
                 S_ISDIR(st.st_mode) ? "pass the path of a .so file inside it"
                                     : "pass the path of a shared library file");
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EACCES) {
      return error(errc::permission_denied, file,
                   "cannot be read by this process (mode " + octal(st.st_mode & 07777) +
                       ", owner uid " + std::to_string(st.st_uid) +
                       ", this process runs as uid " + std::to_string(::geteuid()) + ")",
                   "make it readable (chmod a+r) or run as a user who can read it");
    }
    return std::nullopt;
  }
  std::array<unsigned char, header_bytes> bytes{};
  std::size_t n = 0;
  while (n < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + n, bytes.size() - n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    n += static_cast<std::size_t>(got);
  }
  ::close(fd);
  return check_header(file, bytes.data(), n);
}

// --- what the dynamic linker said ----------------------------------------------------------------
// glibc writes "<object>: <what>[: <strerror>]". Objects are paths and may hold ": ", so the
// text is split at the known phrases, not at the first colon.

std::string_view between(std::string_view text, std::string_view open, std::string_view close) {
  auto start = text.find(open);
  if (start == std::string_view::npos) return {};
  start += open.size();
  auto end = text.find(close, start);
  if (end == std::string_view::npos) return {};
  return text.substr(start, end - start);
}

bool same_object(std::string_view reported, const std::string& asked) {
  return reported == asked || base_name(reported) == base_name(asked);
}

error classify_text(const std::string& file, std::string_view text) {
  const bool has_slash = file.find('/') != std::string::npos;

  if (auto pos = text.find(": version `"); pos != std::string_view::npos) {
    const std::string_view provider = text.substr(0, pos);
    const std::string_view version = between(text.substr(pos), "`", "'");
    const std::string_view required_by = between(text.substr(pos), "(required by ", ")");
    std::string cause = "needs symbol version " + std::string(version) + " of " +
                        std::string(base_name(provider)) +
                        ", but the copy the dynamic linker found (" + std::string(provider) +
                        ") does not define it";
    if (!required_by.empty() && !same_object(required_by, file)) {
      cause += " (its dependency " + std::string(required_by) + " asks for it)";
    }
    return error(errc::symbol_version_missing, file, std::move(cause),
                 "install a newer " + std::string(base_name(provider)) +
                     " where the linker finds it first, or rebuild the module against the "
                     "older one");
  }

  if (auto pos = text.find(": undefined symbol: "); pos != std::string_view::npos) {
    const std::string_view object = text.substr(0, pos);
    std::string_view symbol = text.substr(pos + std::string_view(": undefined symbol: ").size());
    std::string_view version;
    if (auto comma = symbol.find(", version "); comma != std::string_view::npos) {
      version = symbol.substr(comma + std::string_view(", version ").size());
      symbol = symbol.substr(0, comma);
    }
    const std::string name = with_demangled(std::string(symbol));
    std::string cause = "refers to " + name;
    if (!version.empty()) cause += " version " + std::string(version);
    cause += ", which no loaded library defines";
    if (!same_object(object, file)) cause += " (the reference is in " + std::string(object) + ")";
    return error(errc::undefined_symbol, file, std::move(cause),
                 "link the module against the library that defines " + std::string(symbol) +
                     ", or open that library first with open_flags::global");
  }

  if (auto pos = text.find(": cannot open shared object file"); pos != std::string_view::npos) {
    const std::string_view object = text.substr(0, pos);
    const bool no_such_file = text.find("No such file") != std::string_view::npos;
    if (object != file) {
      return error(errc::missing_dependency, file,
                   "needs " + std::string(object) +
                       (no_such_file ? ", which the dynamic linker did not find"
                                     : ", which the dynamic linker could not open") +
                       " (searched its RUNPATH, LD_LIBRARY_PATH, ld.so.cache and the default "
                       "dirs)",
                   "install it or add its directory to LD_LIBRARY_PATH");
    }
    if (!has_slash && no_such_file) {
      return error(errc::file_not_found, file,
                   "not found by the dynamic linker (searched the caller's RUNPATH, "
                   "LD_LIBRARY_PATH, ld.so.cache and the default dirs)",
                   "pass a path that contains a '/', or add the library's directory to "
                   "LD_LIBRARY_PATH");
    }
    // The file is there (it was checked) and still refused: the text is all there is.
  }

  if (auto pos = text.find(": wrong ELF class: "); pos != std::string_view::npos) {
    const std::string_view object = text.substr(0, pos);
    const std::string_view found = text.substr(pos + std::string_view(": wrong ELF class: ").size());
    if (!same_object(object, file)) {
      return error(errc::wrong_class, file,
                   "needs " + std::string(object) + ", but the copy the dynamic linker found is " +
                       std::string(found) + " and this process is " + class_name(host_class),
                   "install the " + std::string(host_class == ELFCLASS64 ? "64" : "32") +
                       "-bit build of " + std::string(base_name(object)));
    }
    return error(errc::wrong_class, file,
                 "is " + std::string(found) + ", this process is " + class_name(host_class),
                 "use a build of the library for this process");
  }

  if (text.find("cannot dynamically load") != std::string_view::npos) {
    return error(errc::load_failed, file, "is an executable, not a shared library",
                 "build it as a shared library (-shared -fPIC)");
  }
  if (text.find("file too short") != std::string_view::npos) {
    return error(errc::load_failed, file, "is cut short: the dynamic linker found it too short",
                 "rebuild or reinstall it");
  }
  if (text.find("failed to map segment from shared object") != std::string_view::npos) {
    return error(errc::load_failed, file, "could not be mapped into memory",
                 "check that its file system is not mounted noexec and that the process's "
                 "memory limits (ulimit -v) leave room");
  }
  if (text.find("cannot allocate memory in static TLS block") != std::string_view::npos) {
    return error(errc::load_failed, file,
                 "uses initial-exec thread-local storage and the static TLS block is full",
                 "build it with -ftls-model=global-dynamic, or load it at startup (LD_PRELOAD)");
  }
  return error(errc::load_failed, file, "the dynamic linker refused it: " + std::string(text),
               "run with LD_DEBUG=files,libs to see what the dynamic linker did");
}

// For the destructor and move assignment, which cannot report: close, drop the text.
void close_quietly(void* handle) noexcept {
  const os::dl_api& api = os::current_dl_api();
  std::lock_guard lock(dl_mutex());
  if (api.dlclose(handle) != 0) (void)api.dlerror();
}

error classify_open_failure(const std::string& file, open_flags flags,
                            const std::optional<std::string>& text) {
  error e = [&] {
    if (file.find('/') != std::string::npos) {
      if (auto found = check_file(file)) return std::move(*found);
    }
    if (text) return classify_text(file, *text);
    // glibc fails RTLD_NOLOAD of a library that is not loaded without setting an error.
    if (has(flags, open_flags::noload)) {
      return error(errc::load_failed, file, "is not loaded, and open_flags::noload forbids loading it",
                   "open it without open_flags::noload to load it");
    }
    return error(errc::load_failed, file, "dlopen failed without saying why",
                 "run with LD_DEBUG=files,libs to see what the dynamic linker did");
  }();
  return std::move(e).with_os_text(text.value_or(std::string()));
}

}  // namespace

std::string platform_file_name(std::string_view name) {
  return "lib" + std::string(name) + ".so";
}

library::library(library&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), path_(std::move(other.path_)) {
  other.path_.clear();
}

library& library::operator=(library&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) close_quietly(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

library::~library() {
  if (handle_ != nullptr) close_quietly(handle_);
}

result<library> library::open(const std::filesystem::path& path, open_flags flags) {
  const std::string& file = path.native();
  if (file.empty()) {
    // dlopen("") would hand back the main program, which is never what a caller meant.
    return fail(errc::file_not_found, "", "the library path is empty",
                "pass the path or file name of a shared library");
  }
  const os::dl_api& api = os::current_dl_api();
  void* handle = nullptr;
  std::optional<std::string> text;
  {
    std::lock_guard lock(dl_mutex());
    (void)api.dlerror();  // drop a stale error, so the text read below is this call's
    handle = api.dlopen(file.c_str(), to_rtld_mode(flags));
    if (handle == nullptr) text = take_dlerror(api);
  }
  if (handle != nullptr) return library(handle, path);
  return fail(classify_open_failure(file, flags, text));
}

result<void*> library::raw_symbol(std::string_view name) const {
  if (handle_ == nullptr) {
    return fail(errc::symbol_not_found, path_.string(),
                "cannot look up " + std::string(name) + ": the library is not open",
                "open the library before importing from it");
  }
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    return fail(errc::symbol_not_found, path_.string(),
                "a symbol name must be non-empty and contain no NUL byte", "check the name");
  }
  const std::string symbol_name(name);
  const os::dl_api& api = os::current_dl_api();
  void* address = nullptr;
  std::optional<std::string> text;
  {
    std::lock_guard lock(dl_mutex());
    // A symbol's value may legally be NULL, so only dlerror tells a miss from a hit: clear it
    // first, then ask.
    (void)api.dlerror();
    address = api.dlsym(handle_, symbol_name.c_str());
    text = take_dlerror(api);
  }
  if (text) {
    return fail(error(errc::symbol_not_found, path_.string(),
                      "does not export " + with_demangled(symbol_name),
                      "check the spelling, and that the module exports it with extern \"C\" "
                      "and default visibility (nm -D --defined-only " + path_.string() + ")")
                    .with_os_text(std::move(*text)));
  }
  return address;
}

result<void> library::close() {
  if (handle_ == nullptr) return {};
  void* handle = std::exchange(handle_, nullptr);
  const os::dl_api& api = os::current_dl_api();
  std::optional<std::string> text;
  int rc = 0;
  {
    std::lock_guard lock(dl_mutex());
    (void)api.dlerror();
    rc = api.dlclose(handle);
    if (rc != 0) text = take_dlerror(api);
  }
  if (rc != 0) {
    return fail(error(errc::close_failed, path_.string(),
                      "the dynamic linker could not close it" +
                          (text ? ": " + *text : std::string()),
                      "the handle is released either way; if this repeats, the library may stay "
                      "mapped until the process exits")
                    .with_os_text(text.value_or(std::string())));
  }
  return {};
}

}  // namespace livemod
