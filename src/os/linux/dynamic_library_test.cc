#include <dlfcn.h>
#include <elf.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "livemod/library.h"
#include "os/dl_api.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

// True while some mapping in /proc/self/maps comes from `path`.
bool is_mapped(const fs::path& path) {
  const std::string wanted = fs::weakly_canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.size() >= wanted.size() && line.ends_with(wanted)) return true;
  }
  return false;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh directory per test, removed after it.
class temp_dir_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "livemod_os_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A copy of the calculator with `bytes` written at `offset`: Boost.DLL's corrupt-one-field.
  fs::path patched_calculator(const std::string& name, std::size_t offset,
                              const std::string& bytes) {
    std::string image = read_all(LIVEMOD_FIXTURE_CALCULATOR);
    EXPECT_GT(image.size(), offset + bytes.size());
    image.replace(offset, bytes.size(), bytes);
    const fs::path out = dir_ / name;
    write_all(out, image);
    return out;
  }
  fs::path dir_;
};

std::string u16_le(std::uint16_t v) {
  return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
}

// --- opening, importing, closing ----------------------------------------------------------------

TEST(platform_file_name, adds_the_linux_prefix_and_suffix) {
  EXPECT_EQ(platform_file_name("calculator"), "libcalculator.so");
  EXPECT_EQ(platform_file_name("a.b"), "liba.b.so");
}

TEST(library, calls_a_typed_function) {
  auto lib = library::open(LIVEMOD_FIXTURE_CALCULATOR);
  ASSERT_THAT(lib, IsOk());
  EXPECT_TRUE(lib->is_open());
  EXPECT_TRUE(static_cast<bool>(*lib));
  EXPECT_NE(lib->native_handle(), nullptr);
  EXPECT_EQ(lib->path(), fs::path(LIVEMOD_FIXTURE_CALCULATOR));
  auto calculate = lib->symbol<int(int)>("calculate");
  ASSERT_THAT(calculate, IsOk());
  EXPECT_EQ((*calculate)(20), 41);
  EXPECT_EQ((*calculate)(-3), -5);
}

TEST(library, imports_data_that_the_module_itself_sees) {
  auto lib = library::open(LIVEMOD_FIXTURE_COUNTER);
  ASSERT_THAT(lib, IsOk());
  auto value = lib->symbol<int>("loader_counter_value");
  auto get = lib->symbol<int()>("loader_counter_get");
  ASSERT_THAT(value, IsOk());
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(**value, 1);  // its constructor ran once
  **value = 17;
  EXPECT_EQ((*get)(), 17);
}

TEST(library, a_symbol_whose_value_is_null_is_found) {
  auto lib = library::open(LIVEMOD_FIXTURE_COUNTER);
  ASSERT_THAT(lib, IsOk());
  // loader_null_symbol is absolute with value 0: dlsym returns NULL and sets no error.
  auto address = lib->raw_symbol("loader_null_symbol");
  ASSERT_THAT(address, IsOk());
  EXPECT_EQ(*address, nullptr);
}

TEST(library, a_missing_symbol_is_named) {
  auto lib = library::open(LIVEMOD_FIXTURE_CALCULATOR);
  ASSERT_THAT(lib, IsOk());
  auto missing = lib->symbol<int(int)>("calculte");
  EXPECT_THAT(missing, HasCodeAndMessage(errc::symbol_not_found,
                                         AllOf(HasSubstr(LIVEMOD_FIXTURE_CALCULATOR),
                                               HasSubstr("does not export calculte"))));
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().os_text(), HasSubstr("undefined symbol: calculte"));

  EXPECT_THAT(lib->raw_symbol("_ZN3foo3barEi"),
              HasCodeAndMessage(errc::symbol_not_found, HasSubstr("_ZN3foo3barEi (foo::bar(int))")));
  EXPECT_THAT(lib->raw_symbol(""), HasCode(errc::symbol_not_found));
  EXPECT_THAT(lib->raw_symbol(std::string_view("calculate\0x", 11)),
              HasCode(errc::symbol_not_found));
}

TEST(library, moves_leave_an_empty_handle_and_close_twice_is_safe) {
  auto opened = library::open(LIVEMOD_FIXTURE_CALCULATOR);
  ASSERT_THAT(opened, IsOk());
  library a = std::move(*opened);
  void* native = a.native_handle();

  library b(std::move(a));
  EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(a.native_handle(), nullptr);
  EXPECT_TRUE(a.path().empty());
  EXPECT_THAT(a.raw_symbol("calculate"), HasCode(errc::symbol_not_found));
  EXPECT_THAT(a.close(), IsOk());
  ASSERT_TRUE(b.is_open());
  EXPECT_EQ(b.native_handle(), native);
  EXPECT_EQ((*b.symbol<int(int)>("calculate"))(1), 3);

  // Assigning over an open handle closes what it held.
  auto counter = library::open(LIVEMOD_FIXTURE_COUNTER);
  ASSERT_THAT(counter, IsOk());
  ASSERT_TRUE(is_mapped(LIVEMOD_FIXTURE_COUNTER));
  *counter = std::move(b);
  EXPECT_FALSE(is_mapped(LIVEMOD_FIXTURE_COUNTER));
  EXPECT_FALSE(b.is_open());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(counter->native_handle(), native);

  EXPECT_THAT(counter->close(), IsOk());
  EXPECT_FALSE(counter->is_open());
  EXPECT_THAT(counter->close(), IsOk());
  library empty;
  EXPECT_FALSE(empty.is_open());
  EXPECT_THAT(empty.close(), IsOk());
}

TEST(library, close_unmaps_the_image) {
  ASSERT_FALSE(is_mapped(LIVEMOD_FIXTURE_COUNTER));
  {
    auto lib = library::open(LIVEMOD_FIXTURE_COUNTER);
    ASSERT_THAT(lib, IsOk());
    EXPECT_TRUE(is_mapped(LIVEMOD_FIXTURE_COUNTER));
    EXPECT_THAT(lib->close(), IsOk());
    EXPECT_FALSE(is_mapped(LIVEMOD_FIXTURE_COUNTER));
  }
  {
    auto lib = library::open(LIVEMOD_FIXTURE_COUNTER);
    ASSERT_THAT(lib, IsOk());
    EXPECT_TRUE(is_mapped(LIVEMOD_FIXTURE_COUNTER));
  }  // the destructor closes too
  EXPECT_FALSE(is_mapped(LIVEMOD_FIXTURE_COUNTER));
}

TEST(library, opens_are_refcounted_and_noload_only_finds_what_is_loaded) {
  EXPECT_THAT(library::open(LIVEMOD_FIXTURE_COUNTER, open_flags::now | open_flags::noload),
              HasCodeAndMessage(errc::load_failed, HasSubstr("is not loaded")));
  EXPECT_FALSE(is_mapped(LIVEMOD_FIXTURE_COUNTER));

  auto first = library::open(LIVEMOD_FIXTURE_COUNTER);
  ASSERT_THAT(first, IsOk());
  int* value = *first->symbol<int>("loader_counter_value");
  ASSERT_EQ(*value, 1);
  *value = 41;  // a fresh image would start at 1 again

  auto second = library::open(LIVEMOD_FIXTURE_COUNTER);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->native_handle(), first->native_handle());
  EXPECT_EQ(*value, 41);  // the constructor did not run again

  auto probe = library::open(LIVEMOD_FIXTURE_COUNTER, open_flags::now | open_flags::noload);
  ASSERT_THAT(probe, IsOk());
  EXPECT_EQ(probe->native_handle(), first->native_handle());

  EXPECT_THAT(first->close(), IsOk());
  EXPECT_THAT(probe->close(), IsOk());
  EXPECT_TRUE(is_mapped(LIVEMOD_FIXTURE_COUNTER));  // `second` still holds it
  EXPECT_EQ(**second->symbol<int>("loader_counter_value"), 41);
  EXPECT_THAT(second->close(), IsOk());
  EXPECT_FALSE(is_mapped(LIVEMOD_FIXTURE_COUNTER));

  auto again = library::open(LIVEMOD_FIXTURE_COUNTER);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(**again->symbol<int>("loader_counter_value"), 1);
}

TEST(library, lazy_binding_defers_an_undefined_function) {
  // Without open_flags::now the one undefined function is bound at its first call, which
  // never comes; with it, the open fails.
  auto lazy = library::open(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL, open_flags{});
  ASSERT_THAT(lazy, IsOk());
  EXPECT_EQ((*lazy->symbol<int()>("undefined_symbol_ready"))(), 1);
  // While the lazy image is loaded, an open with `now` just returns it again: close it first.
  EXPECT_THAT(lazy->close(), IsOk());
  ASSERT_FALSE(is_mapped(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL));
  EXPECT_THAT(library::open(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL),
              HasCode(errc::undefined_symbol));
}

TEST(library, a_new_enough_versioned_dependency_loads) {
  auto lib = library::open(LIVEMOD_FIXTURE_USES_VERSIONED_STUB_V2);
  ASSERT_THAT(lib, IsOk());
  EXPECT_EQ((*lib->symbol<int()>("uses_versioned_stub_value"))(), 2);
}

// --- failures of the file itself ----------------------------------------------------------------

using library_file_errors = temp_dir_test;

TEST_F(library_file_errors, missing_file) {
  const fs::path path = dir_ / "libnothere.so";
  auto lib = library::open(path);
  EXPECT_THAT(lib, HasCodeAndMessage(errc::file_not_found,
                                     AllOf(HasSubstr(path.string() + ": no such file"),
                                           HasSubstr("build the module first"))));
  ASSERT_FALSE(lib.has_value());
  EXPECT_THAT(lib.error().os_text(), HasSubstr("cannot open shared object file"));
}

TEST_F(library_file_errors, missing_relative_file_names_the_working_directory) {
  EXPECT_THAT(library::open("./livemod_no_such_dir/libnothere.so"),
              HasCodeAndMessage(errc::file_not_found,
                                HasSubstr("relative to the working directory " +
                                          fs::current_path().string())));
}

TEST_F(library_file_errors, missing_bare_name_points_at_the_search_path) {
  EXPECT_THAT(library::open("liblivemod_no_such_library.so"),
              HasCodeAndMessage(errc::file_not_found,
                                AllOf(HasSubstr("liblivemod_no_such_library.so: not found"),
                                      HasSubstr("LD_LIBRARY_PATH"))));
}

TEST_F(library_file_errors, empty_path) {
  EXPECT_THAT(library::open(""), HasCodeAndMessage(errc::file_not_found, HasSubstr("empty")));
}

TEST_F(library_file_errors, dangling_symlink_names_its_target) {
  const fs::path link = dir_ / "libdangling.so";
  fs::create_symlink(dir_ / "libgone.so", link);
  EXPECT_THAT(library::open(link),
              HasCodeAndMessage(errc::file_not_found,
                                HasSubstr("is a symbolic link to " + (dir_ / "libgone.so").string())));
}

TEST_F(library_file_errors, path_through_a_file) {
  write_all(dir_ / "plain", "x");
  EXPECT_THAT(library::open(dir_ / "plain" / "libx.so"),
              HasCodeAndMessage(errc::file_not_found, HasSubstr("not a directory")));
}

TEST_F(library_file_errors, directory) {
  auto lib = library::open(dir_);
  EXPECT_THAT(lib, HasCodeAndMessage(errc::not_a_regular_file,
                                     HasSubstr(dir_.string() + ": is a directory")));
  ASSERT_FALSE(lib.has_value());
  EXPECT_THAT(lib.error().os_text(), HasSubstr("Is a directory"));
}

TEST_F(library_file_errors, text_file_is_not_elf) {
  // Longer than an ELF header, so that the linker reads it and calls it invalid.
  write_all(dir_ / "libtext.so", "hello, this is not a shared library\n" + std::string(80, '#'));
  auto lib = library::open(dir_ / "libtext.so");
  EXPECT_THAT(lib, HasCodeAndMessage(errc::not_elf,
                                     HasSubstr("not an ELF file (it starts with 68 65 6c 6c, "
                                               "not 7f 45 4c 46)")));
  ASSERT_FALSE(lib.has_value());
  EXPECT_THAT(lib.error().os_text(), HasSubstr("invalid ELF header"));
}

TEST_F(library_file_errors, empty_file_is_not_elf) {
  write_all(dir_ / "libempty.so", "");
  EXPECT_THAT(library::open(dir_ / "libempty.so"),
              HasCodeAndMessage(errc::not_elf, HasSubstr("is empty (0 bytes)")));
}

TEST_F(library_file_errors, linker_script_is_named_as_such) {
  write_all(dir_ / "libc.so", "/* GNU ld script\n   Use the shared library.  */\nGROUP ( x )\n");
  EXPECT_THAT(library::open(dir_ / "libc.so"),
              HasCodeAndMessage(errc::not_elf, HasSubstr("is a linker script")));
}

TEST_F(library_file_errors, truncated_header_is_left_to_the_linker) {
  write_all(dir_ / "libshort.so", std::string("\x7f" "ELF\x02\x01", 6));
  EXPECT_THAT(library::open(dir_ / "libshort.so"),
              HasCodeAndMessage(errc::load_failed, HasSubstr("too short")));
}

TEST_F(library_file_errors, wrong_class_crafted_header) {
  // The first 64 bytes of a 32-bit i386 shared object: enough for dlopen to read and refuse.
  std::string header(64, '\0');
  header.replace(0, 7, std::string("\x7f" "ELF\x01\x01\x01", 7));
  header.replace(16, 2, u16_le(ET_DYN));
  header.replace(18, 2, u16_le(EM_386));
  write_all(dir_ / "lib32.so", header);
  auto lib = library::open(dir_ / "lib32.so");
  EXPECT_THAT(lib, HasCodeAndMessage(errc::wrong_class,
                                     AllOf(HasSubstr("is a 32-bit (ELFCLASS32) library"),
                                           HasSubstr("this process is 64-bit (ELFCLASS64)"),
                                           HasSubstr("use a 64-bit build"))));
  ASSERT_FALSE(lib.has_value());
  EXPECT_FALSE(lib.error().os_text().empty());
}

TEST_F(library_file_errors, wrong_class_patched_calculator) {
  const fs::path path = patched_calculator("libclass32.so", EI_CLASS, "\x01");
  auto lib = library::open(path);
  EXPECT_THAT(lib, HasCodeAndMessage(errc::wrong_class, HasSubstr("32-bit (ELFCLASS32)")));
  ASSERT_FALSE(lib.has_value());
  EXPECT_THAT(lib.error().os_text(), HasSubstr("wrong ELF class: ELFCLASS32"));
}

#if defined(__x86_64__)
constexpr std::uint16_t foreign_machine = EM_AARCH64;
constexpr const char* foreign_text = "built for aarch64 (e_machine 183), this process is x86_64 (62)";
#else
constexpr std::uint16_t foreign_machine = EM_X86_64;
constexpr const char* foreign_text = "built for x86_64 (e_machine 62), this process is";
#endif

TEST_F(library_file_errors, wrong_arch_patched_calculator) {
  const fs::path path = patched_calculator("libforeign.so", 18, u16_le(foreign_machine));
  auto lib = library::open(path);
  EXPECT_THAT(lib, HasCodeAndMessage(errc::wrong_arch, HasSubstr(foreign_text)));
  ASSERT_FALSE(lib.has_value());
  // What glibc says here is misleading, which is why the header is read at all.
  EXPECT_THAT(lib.error().os_text(), HasSubstr("cannot open shared object file"));
}

TEST_F(library_file_errors, wrong_byte_order_patched_calculator) {
  const fs::path path = patched_calculator("libbig.so", EI_DATA, "\x02");
  EXPECT_THAT(library::open(path),
              HasCodeAndMessage(errc::wrong_arch, HasSubstr("is big-endian")));
}

TEST_F(library_file_errors, relocatable_object) {
  const fs::path path = patched_calculator("libobject.so", 16, u16_le(ET_REL));
  EXPECT_THAT(library::open(path),
              HasCodeAndMessage(errc::load_failed, HasSubstr("relocatable object file")));
}

TEST_F(library_file_errors, executable) {
  // This test binary itself: an executable, which dlopen refuses.
  const fs::path self = fs::read_symlink("/proc/self/exe");
  auto lib = library::open(self);
  EXPECT_THAT(lib, HasCodeAndMessage(errc::load_failed, HasSubstr("is an executable")));
}

TEST_F(library_file_errors, unreadable_file) {
  const fs::path path = dir_ / "libsecret.so";
  fs::copy_file(LIVEMOD_FIXTURE_CALCULATOR, path);
  ASSERT_EQ(::chmod(path.c_str(), 0200), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  const auto expect_denied = [&path]() -> int {
    auto lib = library::open(path);
    if (lib || lib.error().code() != errc::permission_denied) return 1;
    const std::string message = lib.error().message();
    return message.find("cannot be read by this process (mode 0200") != std::string::npos &&
                   message.find("chmod a+r") != std::string::npos
               ? 0
               : 1;
  };
  if (::geteuid() != 0) {
    EXPECT_EQ(expect_denied(), 0);
    return;
  }
  // root reads everything: drop to "nobody" in a child to see the refusal a user would see.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(2);
    }
    ::_exit(expect_denied());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop privileges to test permissions";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child did not get permission_denied";
}

// --- failures the dynamic linker reports ----------------------------------------------------------

TEST(library_link_errors, missing_dependency_names_it) {
  auto lib = library::open(LIVEMOD_FIXTURE_MISSING_DEPENDENCY);
  EXPECT_THAT(lib, HasCodeAndMessage(
                       errc::missing_dependency,
                       AllOf(HasSubstr(std::string(LIVEMOD_FIXTURE_MISSING_DEPENDENCY) +
                                       ": needs liblivemod_absent.so, which the dynamic linker "
                                       "did not find"),
                             HasSubstr("add its directory to LD_LIBRARY_PATH"))));
  ASSERT_FALSE(lib.has_value());
  EXPECT_EQ(lib.error().os_text(),
            "liblivemod_absent.so: cannot open shared object file: No such file or directory");
}

TEST(library_link_errors, undefined_symbol_names_it) {
  auto lib = library::open(LIVEMOD_FIXTURE_UNDEFINED_SYMBOL);
  EXPECT_THAT(lib, HasCodeAndMessage(errc::undefined_symbol,
                                     AllOf(HasSubstr("refers to livemod_fixture_nobody_defines, "
                                                     "which no loaded library defines"),
                                           Not(HasSubstr("the reference is in")))));
  ASSERT_FALSE(lib.has_value());
  EXPECT_THAT(lib.error().os_text(), HasSubstr("undefined symbol: livemod_fixture_nobody_defines"));
}

TEST(library_link_errors, undefined_cxx_symbol_is_demangled) {
  EXPECT_THAT(library::open(LIVEMOD_FIXTURE_UNDEFINED_CXX_SYMBOL),
              HasCodeAndMessage(errc::undefined_symbol,
                                HasSubstr("_ZN15livemod_fixture19nobody_defines_thisEi "
                                          "(livemod_fixture::nobody_defines_this(int))")));
}

TEST(library_link_errors, symbol_version_too_new_names_version_and_library) {
  auto lib = library::open(LIVEMOD_FIXTURE_NEEDS_NEWER_VERSION);
  EXPECT_THAT(lib, HasCodeAndMessage(
                       errc::symbol_version_missing,
                       AllOf(HasSubstr("needs symbol version LIVEMOD_STUB_2.0 of "
                                       "liblivemod_versioned.so"),
                             HasSubstr(std::string("(") + LIVEMOD_FIXTURE_VERSIONED_STUB_V1_DIR +
                                       "/liblivemod_versioned.so)"),
                             HasSubstr("install a newer liblivemod_versioned.so"),
                             Not(HasSubstr("its dependency")))));
  ASSERT_FALSE(lib.has_value());
  EXPECT_THAT(lib.error().os_text(), HasSubstr("version `LIVEMOD_STUB_2.0' not found"));
}

// --- the seam: make the dynamic linker say anything ------------------------------------------------

// State for the fakes below; plain function pointers cannot capture. Only the test that set
// them touches them, and library reads them under its lock.
struct fake_linker {
  static inline const char* pending_error = nullptr;
  static inline const char* open_error = nullptr;
  static inline int last_mode = -1;
  static inline int close_result = 0;
  static inline const char* close_error = nullptr;
  static inline int closes = 0;
  static inline void* symbol_value = nullptr;
  static inline const char* symbol_error = nullptr;
  static inline int handle_storage = 0;

  static void reset() {
    pending_error = open_error = close_error = symbol_error = nullptr;
    last_mode = -1;
    close_result = 0;
    closes = 0;
    symbol_value = nullptr;
  }
  static void* handle() { return &handle_storage; }

  static void* open_fails(const char*, int mode) {
    last_mode = mode;
    pending_error = open_error;
    return nullptr;
  }
  static void* open_succeeds(const char*, int mode) {
    last_mode = mode;
    return handle();
  }
  static void* symbol(void*, const char*) {
    if (symbol_error != nullptr) pending_error = symbol_error;
    return symbol_value;
  }
  static int close(void*) {
    ++closes;
    if (close_result != 0) pending_error = close_error;
    return close_result;
  }
  static char* error() {
    const char* e = std::exchange(pending_error, nullptr);
    return const_cast<char*>(e);
  }
  static os::dl_api api(void* (*open)(const char*, int)) {
    return os::dl_api{open, &symbol, &close, &error};
  }
};

class library_seam : public ::testing::Test {
 protected:
  void SetUp() override { fake_linker::reset(); }
  void TearDown() override { fake_linker::reset(); }
};

TEST_F(library_seam, override_is_scoped) {
  const os::dl_api before = os::current_dl_api();
  {
    os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_fails));
    EXPECT_EQ(os::current_dl_api().dlclose, &fake_linker::close);
  }
  EXPECT_EQ(os::current_dl_api().dlopen, before.dlopen);
  EXPECT_EQ(os::current_dl_api().dlclose, before.dlclose);
}

TEST_F(library_seam, flags_map_to_rtld_modes) {
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_succeeds));
  const auto mode_for = [](open_flags flags) {
    auto lib = library::open("libfake.so", flags);
    EXPECT_THAT(lib, IsOk());
    return fake_linker::last_mode;
  };
  EXPECT_EQ(mode_for(open_flags::now), RTLD_NOW | RTLD_LOCAL);
  EXPECT_EQ(mode_for(open_flags{}), RTLD_LAZY | RTLD_LOCAL);
  EXPECT_EQ(mode_for(open_flags::now | open_flags::global), RTLD_NOW | RTLD_GLOBAL);
  EXPECT_EQ(mode_for(open_flags::now | open_flags::nodelete), RTLD_NOW | RTLD_NODELETE);
  EXPECT_EQ(mode_for(open_flags::noload), RTLD_LAZY | RTLD_NOLOAD);
  EXPECT_EQ(mode_for(open_flags::now | open_flags::deepbind), RTLD_NOW | RTLD_DEEPBIND);
  EXPECT_EQ(fake_linker::closes, 6);  // each handle closed once, by its destructor
}

struct text_case {
  const char* asked;  // "CALC" stands for the calculator fixture, a file that passes the checks
  const char* dlerror;
  errc code;
  std::vector<std::string> message_has;
};

TEST_F(library_seam, classifies_what_dlopen_says) {
  const std::string calc = LIVEMOD_FIXTURE_CALCULATOR;
  const std::vector<text_case> cases = {
      {"CALC", "libdep.so.1: cannot open shared object file: No such file or directory",
       errc::missing_dependency, {"needs libdep.so.1, which the dynamic linker did not find"}},
      {"CALC", "/odd: dir/libdep.so: cannot open shared object file: Permission denied",
       errc::missing_dependency, {"needs /odd: dir/libdep.so, which the dynamic linker could not open"}},
      {"libasked.so", "libasked.so: cannot open shared object file: No such file or directory",
       errc::file_not_found, {"libasked.so: not found by the dynamic linker"}},
      {"libasked.so", "libdep.so: cannot open shared object file: No such file or directory",
       errc::missing_dependency, {"libasked.so: needs libdep.so"}},
      {"CALC", "CALC: undefined symbol: _ZN3foo3barEi", errc::undefined_symbol,
       {"refers to _ZN3foo3barEi (foo::bar(int))", "library that defines _ZN3foo3barEi"}},
      {"CALC", "CALC: undefined symbol: sym, version VER_1", errc::undefined_symbol,
       {"refers to sym version VER_1,"}},
      {"CALC", "/lib/libmid.so: undefined symbol: deep", errc::undefined_symbol,
       {"refers to deep", "the reference is in /lib/libmid.so"}},
      {"CALC", "/opt/v1/libdep.so: version `DEP_2.0' not found (required by /other/libmid.so)",
       errc::symbol_version_missing,
       {"needs symbol version DEP_2.0 of libdep.so, but the copy the dynamic linker found "
        "(/opt/v1/libdep.so)",
        "its dependency /other/libmid.so asks for it", "install a newer libdep.so"}},
      {"CALC", "libdep.so: wrong ELF class: ELFCLASS32", errc::wrong_class,
       {"needs libdep.so, but the copy the dynamic linker found is ELFCLASS32",
        "install the 64-bit build of libdep.so"}},
      {"CALC", "CALC: failed to map segment from shared object", errc::load_failed,
       {"could not be mapped", "noexec"}},
      {"CALC", "CALC: cannot allocate memory in static TLS block", errc::load_failed,
       {"static TLS block is full", "-ftls-model=global-dynamic"}},
      {"CALC", "CALC: cannot dynamically load position-independent executable",
       errc::load_failed, {"is an executable"}},
      {"CALC", "something nobody has seen before", errc::load_failed,
       {"the dynamic linker refused it: something nobody has seen before", "LD_DEBUG"}},
  };
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_fails));
  for (const text_case& c : cases) {
    std::string text = c.dlerror;
    if (auto at = text.find("CALC"); at != std::string::npos) text.replace(at, 4, calc);
    const std::string asked = std::string(c.asked) == "CALC" ? calc : c.asked;
    SCOPED_TRACE(text);
    fake_linker::open_error = text.c_str();
    auto lib = library::open(asked);
    EXPECT_THAT(lib, HasCode(c.code));
    ASSERT_FALSE(lib.has_value());
    for (const std::string& part : c.message_has) {
      EXPECT_THAT(lib.error().message(), HasSubstr(part));
    }
    EXPECT_THAT(lib.error().message(), ::testing::StartsWith(asked + ": "));
    EXPECT_EQ(lib.error().os_text(), text);
  }
}

TEST_F(library_seam, a_failure_without_text_is_still_reported) {
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_fails));
  auto lib = library::open(LIVEMOD_FIXTURE_CALCULATOR);
  EXPECT_THAT(lib, HasCodeAndMessage(errc::load_failed, HasSubstr("without saying why")));
  ASSERT_FALSE(lib.has_value());
  EXPECT_EQ(lib.error().os_text(), "");
}

TEST_F(library_seam, the_file_check_wins_over_the_text) {
  // Whatever the linker says, a file that is not there is reported as such.
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_fails));
  fake_linker::open_error = "libdep.so: cannot open shared object file: No such file or directory";
  auto lib = library::open("/livemod/no/such/dir/libx.so");
  EXPECT_THAT(lib, HasCode(errc::file_not_found));
  ASSERT_FALSE(lib.has_value());
  EXPECT_EQ(lib.error().os_text(), fake_linker::open_error);
}

TEST_F(library_seam, a_stale_error_is_not_taken_for_this_call) {
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_succeeds));
  fake_linker::pending_error = "stale: left by an earlier call";
  auto lib = library::open("libfake.so");
  ASSERT_THAT(lib, IsOk());
  // dlsym returning NULL without an error is a hit, even with a stale error lying around.
  fake_linker::pending_error = "stale: left by an earlier call";
  fake_linker::symbol_value = nullptr;
  auto address = lib->raw_symbol("null_valued");
  ASSERT_THAT(address, IsOk());
  EXPECT_EQ(*address, nullptr);
}

TEST_F(library_seam, dlsym_errors_become_symbol_not_found) {
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_succeeds));
  auto lib = library::open("libfake.so");
  ASSERT_THAT(lib, IsOk());
  fake_linker::symbol_error = "libfake.so: undefined symbol: gone";
  auto address = lib->raw_symbol("gone");
  EXPECT_THAT(address, HasCodeAndMessage(errc::symbol_not_found,
                                         HasSubstr("libfake.so: does not export gone")));
  ASSERT_FALSE(address.has_value());
  EXPECT_EQ(address.error().os_text(), "libfake.so: undefined symbol: gone");
}

TEST_F(library_seam, close_failure_is_reported_once_and_empties_the_handle) {
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_succeeds));
  auto lib = library::open("libfake.so");
  ASSERT_THAT(lib, IsOk());
  fake_linker::close_result = -1;
  fake_linker::close_error = "libfake.so: shared object not open";
  auto closed = lib->close();
  EXPECT_THAT(closed, HasCodeAndMessage(errc::close_failed,
                                        HasSubstr("could not close it: libfake.so: shared "
                                                  "object not open")));
  ASSERT_FALSE(closed.has_value());
  EXPECT_EQ(closed.error().os_text(), "libfake.so: shared object not open");
  EXPECT_FALSE(lib->is_open());
  EXPECT_THAT(lib->close(), IsOk());
  EXPECT_EQ(fake_linker::closes, 1);
}

TEST_F(library_seam, destructor_swallows_a_close_failure) {
  os::scoped_dl_api_override fake(fake_linker::api(&fake_linker::open_succeeds));
  {
    auto lib = library::open("libfake.so");
    ASSERT_THAT(lib, IsOk());
    fake_linker::close_result = -1;
    fake_linker::close_error = "boom";
  }
  EXPECT_EQ(fake_linker::closes, 1);
  EXPECT_EQ(fake_linker::pending_error, nullptr);  // the destructor read and dropped the text
}

// --- threads ----------------------------------------------------------------------------------

constexpr int thread_count = 8;
constexpr int rounds = 25;

// Eight threads fail at once through the real linker; each message must be its own.
TEST(library_threads, each_failing_open_gets_its_own_message) {
  std::array<std::vector<std::string>, thread_count> problems;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([t, &problems, &ready] {
      const std::string own = "liblivemod_thread_" + std::to_string(t) + ".so";
      ++ready;
      while (ready.load() < thread_count) std::this_thread::yield();
      for (int i = 0; i < rounds; ++i) {
        auto lib = library::open(own);
        if (lib || lib.error().code() != errc::file_not_found ||
            lib.error().message().find(own + ": not found") != 0 ||
            lib.error().os_text().find(own + ": cannot open") != 0) {
          problems[static_cast<std::size_t>(t)].push_back(
              lib ? std::string("opened") : lib.error().describe());
        }
        // And a fixture failing for a reason of its own.
        const bool even = (t + i) % 2 == 0;
        auto fixture = library::open(even ? LIVEMOD_FIXTURE_UNDEFINED_SYMBOL
                                          : LIVEMOD_FIXTURE_NEEDS_NEWER_VERSION);
        const errc want = even ? errc::undefined_symbol : errc::symbol_version_missing;
        if (fixture || fixture.error().code() != want) {
          problems[static_cast<std::size_t>(t)].push_back(
              fixture ? std::string("opened") : fixture.error().describe());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < thread_count; ++t) {
    EXPECT_THAT(problems[static_cast<std::size_t>(t)], ::testing::IsEmpty()) << "thread " << t;
  }
}

// A linker whose dlerror is one process-wide buffer, as POSIX allows: without the loader's
// lock, another thread's failure lands between this thread's dlopen and dlerror.
struct shared_error_linker {
  static inline std::array<std::string, thread_count> texts;
  static inline const char* last_error = nullptr;  // unsynchronised on purpose

  static void* open(const char* file, int) {
    for (const std::string& text : texts) {
      if (text.starts_with(file)) last_error = text.c_str();
    }
    std::this_thread::yield();  // widen the window a missing lock would leave
    return nullptr;
  }
  static char* error() { return const_cast<char*>(std::exchange(last_error, nullptr)); }
};

TEST(library_threads, dlerror_is_read_under_the_lock) {
  for (int t = 0; t < thread_count; ++t) {
    shared_error_linker::texts[static_cast<std::size_t>(t)] =
        "libshared_" + std::to_string(t) +
        ".so: cannot open shared object file: No such file or directory";
  }
  os::dl_api api = os::current_dl_api();
  api.dlopen = &shared_error_linker::open;
  api.dlerror = &shared_error_linker::error;
  os::scoped_dl_api_override fake(api);

  std::array<int, thread_count> wrong{};
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([t, &wrong] {
      const std::string own = "libshared_" + std::to_string(t) + ".so";
      for (int i = 0; i < rounds * 4; ++i) {
        auto lib = library::open(own);
        if (lib || lib.error().os_text() != shared_error_linker::texts[static_cast<std::size_t>(t)]) {
          ++wrong[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < thread_count; ++t) EXPECT_EQ(wrong[static_cast<std::size_t>(t)], 0) << t;
}

}  // namespace
}  // namespace livemod
