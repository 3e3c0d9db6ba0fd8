// read_image on well-formed files: the fixture modules built by CMake (tests/modules), a
// 32-bit and an AArch64 module from the cross compilers, executables PIE and not.
#include "livemod/image.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "image/binutils_view.h"
#include "testing/elf_bytes.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using testing_support::HasCode;
using testing_support::IsOk;

const elf_symbol* find_symbol(const image_info& img, std::string_view name) {
  for (const elf_symbol& s : img.symbols) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> pin_details(const image_info& img, image_pin::reason why) {
  std::vector<std::string> out;
  for (const image_pin& p : img.pins) {
    if (p.why == why) out.push_back(p.detail);
  }
  return out;
}

nlohmann::json manifest_of(const image_info& img) {
  if (!img.manifest_json) return nullptr;
  return nlohmann::json::parse(*img.manifest_json, nullptr, /*allow_exceptions=*/false);
}

TEST(read_image, calculator_elf_facts) {
  const std::filesystem::path path = LIVEMOD_FIXTURE_CALCULATOR;
  auto img = read_image(path);
  ASSERT_THAT(img, IsOk());
  EXPECT_EQ(img->path, path);
  EXPECT_EQ(img->file_size, std::filesystem::file_size(path));
  EXPECT_EQ(img->cls, elf_class::elf64);
  EXPECT_TRUE(img->little_endian);
  EXPECT_EQ(img->machine, EM_X86_64);
  EXPECT_EQ(img->machine_name, "x86_64");
  EXPECT_EQ(img->type, ET_DYN);
  EXPECT_EQ(img->soname, "libcalculator.so");
  EXPECT_THAT(img->rpath, IsEmpty());
  EXPECT_THAT(img->runpath, IsEmpty());
  EXPECT_THAT(img->comment, HasSubstr("GCC: "));
  EXPECT_THAT(img->version_defs, IsEmpty());
  // What NEEDED holds depends on the toolchain (this one links --as-needed, and the calculator
  // calls nothing, so it may be empty; a sanitizer build adds its runtime): hold it to readelf.
  bool tools_ok = false;
  const auto tool = testing_support::ask_binutils(LIVEMOD_FIXTURE_CALCULATOR, tools_ok);
  ASSERT_TRUE(tools_ok);
  EXPECT_EQ(img->needed, tool.needed);
  std::vector<std::string> need_files;
  for (const version_need& n : img->version_needs) need_files.push_back(n.file);
  std::vector<std::string> tool_need_files;
  for (const auto& n : tool.needs) tool_need_files.push_back(n.first);
  EXPECT_EQ(need_files, tool_need_files);
}

TEST(read_image, calculator_symbols) {
  auto img = read_image(LIVEMOD_FIXTURE_CALCULATOR);
  ASSERT_THAT(img, IsOk());
  const elf_symbol* calc = find_symbol(*img, "calculate");
  ASSERT_NE(calc, nullptr);
  EXPECT_TRUE(calc->defined);
  EXPECT_EQ(calc->type, STT_FUNC);
  EXPECT_EQ(calc->binding, STB_GLOBAL);
  EXPECT_NE(calc->value, 0u);
  EXPECT_GT(calc->size, 0u);
  EXPECT_EQ(calc->version, "");
  for (const char* name : {"calculator_loads", "calculator_on_load", "calculator_on_unload"}) {
    const elf_symbol* s = find_symbol(*img, name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_TRUE(s->defined) << name;
  }
  // Hidden visibility: the anonymous-namespace counter is not exported.
  EXPECT_EQ(find_symbol(*img, "loads"), nullptr);

  // Every g++ shared object refers to __cxa_finalize, weakly.
  const elf_symbol* finalize = find_symbol(*img, "__cxa_finalize");
  ASSERT_NE(finalize, nullptr);
  EXPECT_FALSE(finalize->defined);
  EXPECT_EQ(finalize->binding, STB_WEAK);
  EXPECT_FALSE(finalize->version_hidden);
  // The null entry is left out.
  ASSERT_FALSE(img->symbols.empty());
  EXPECT_FALSE(img->symbols.front().name.empty());
}

TEST(read_image, calculator_manifest_and_no_pins) {
  auto img = read_image(LIVEMOD_FIXTURE_CALCULATOR);
  ASSERT_THAT(img, IsOk());
  ASSERT_TRUE(img->manifest_json.has_value());
  EXPECT_THAT(*img->manifest_json, StartsWith(R"({"fingerprint":)"));
  const nlohmann::json m = manifest_of(*img);
  ASSERT_TRUE(m.is_object()) << *img->manifest_json;
  EXPECT_EQ(m["name"], "calculator");
  EXPECT_EQ(m["fingerprint"]["arch"], "x86_64");
  EXPECT_EQ(m["fingerprint"]["compiler"], "gcc");
  // livemod_add_module builds with -fno-gnu-unique and the calculator has no TLS.
  EXPECT_THAT(img->pins, IsEmpty());
  EXPECT_FALSE(img->is_pinned());
}

TEST(read_image, gnu_unique_symbols_pin_the_image) {
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_UNIQUE);
  ASSERT_THAT(img, IsOk());
  EXPECT_TRUE(img->is_pinned());
  const auto unique = pin_details(*img, image_pin::reason::gnu_unique_symbol);
  EXPECT_THAT(unique, Contains("_ZN7fixture14instance_countIiE5valueE"));  // template static
  EXPECT_THAT(unique, Contains("_ZN7fixture14shared_counterE"));           // inline variable
  const elf_symbol* s = find_symbol(*img, "_ZN7fixture14shared_counterE");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->binding, STB_GNU_UNIQUE);
  EXPECT_EQ(s->type, STT_OBJECT);
  EXPECT_TRUE(s->defined);
  EXPECT_THAT(pin_details(*img, image_pin::reason::nodelete_flag), IsEmpty());
}

TEST(read_image, thread_local_destructor_pins_the_image) {
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_TLS);
  ASSERT_THAT(img, IsOk());
  EXPECT_THAT(pin_details(*img, image_pin::reason::tls_symbol),
              ElementsAre("__cxa_thread_atexit"));
  EXPECT_THAT(pin_details(*img, image_pin::reason::gnu_unique_symbol), IsEmpty());
  const elf_symbol* tls = find_symbol(*img, "tls_calls");
  ASSERT_NE(tls, nullptr);
  EXPECT_EQ(tls->type, STT_TLS);
  EXPECT_TRUE(tls->defined);
  const elf_symbol* atexit = find_symbol(*img, "__cxa_thread_atexit");
  ASSERT_NE(atexit, nullptr);
  EXPECT_FALSE(atexit->defined);
  EXPECT_EQ(atexit->version, "CXXABI_1.3.7");
  // Needs from two libraries: libstdc++ and libc, each with its versions.
  EXPECT_THAT(img->version_needs, Contains(Field(&version_need::file, "libstdc++.so.6")));
  EXPECT_THAT(img->version_needs, Contains(Field(&version_need::file, "libc.so.6")));
  for (const version_need& n : img->version_needs) {
    EXPECT_EQ(n.versions.size(), n.weak.size()) << n.file;
    EXPECT_FALSE(n.versions.empty()) << n.file;
  }
}

TEST(read_image, nodelete_flag_pins_the_image) {
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_NODELETE);
  ASSERT_THAT(img, IsOk());
  EXPECT_NE(img->flags_1 & DF_1_NODELETE, 0u);
  ASSERT_EQ(img->pins.size(), 1u);
  EXPECT_EQ(img->pins[0].why, image_pin::reason::nodelete_flag);
  EXPECT_EQ(img->pins[0].detail, "DF_1_NODELETE");
}

TEST(read_image, version_definitions_and_hidden_versions) {
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_VERSIONED);
  ASSERT_THAT(img, IsOk());
  EXPECT_THAT(img->version_defs, ElementsAre("libimage_versioned.so", "LIVEMOD_1.0", "LIVEMOD_2.0"));
  std::vector<std::pair<std::string, bool>> api;  // version, hidden
  for (const elf_symbol& s : img->symbols) {
    if (s.name == "versioned_api") api.emplace_back(s.version, s.version_hidden);
  }
  EXPECT_THAT(api, ::testing::UnorderedElementsAre(std::pair<std::string, bool>("LIVEMOD_1.0", true),
                                                   std::pair<std::string, bool>("LIVEMOD_2.0", false)));
  const elf_symbol* plain = find_symbol(*img, "versioned_plain");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->version, "LIVEMOD_1.0");
  EXPECT_FALSE(plain->version_hidden);
  // The version nodes themselves are absolute symbols named after the version.
  const elf_symbol* node = find_symbol(*img, "LIVEMOD_2.0");
  ASSERT_NE(node, nullptr);
  EXPECT_TRUE(node->defined);
  EXPECT_EQ(node->version, "LIVEMOD_2.0");
  EXPECT_EQ(find_symbol(*img, "versioned_api_v1"), nullptr);
}

TEST(read_image, native_twin_of_the_cross_module) {
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_CROSS_TWIN);
  ASSERT_THAT(img, IsOk());
  EXPECT_THAT(img->pins, IsEmpty());
  const nlohmann::json m = manifest_of(*img);
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(m["name"], "cross");
  EXPECT_EQ(m["fingerprint"]["arch"], "x86_64");
}

TEST(read_image, elf32_i386_module) {
#ifndef LIVEMOD_FIXTURE_IMAGE_I686
  GTEST_SKIP() << "i686-linux-gnu-gcc was not found at configure time; install gcc-i686-linux-gnu";
#else
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_I686);
  ASSERT_THAT(img, IsOk());
  EXPECT_EQ(img->cls, elf_class::elf32);
  EXPECT_TRUE(img->little_endian);
  EXPECT_EQ(img->machine, EM_386);
  EXPECT_EQ(img->machine_name, "i386");
  EXPECT_EQ(img->type, ET_DYN);
  EXPECT_EQ(img->soname, "libimage_i686.so.1");
  EXPECT_THAT(img->needed, ElementsAre("libm.so.6", "libc.so.6"));
  // The empty component is kept: the loader reads it as the current directory.
  EXPECT_THAT(img->runpath, ElementsAre("$ORIGIN/lib", "", "/opt/livemod/lib"));
  EXPECT_THAT(img->rpath, IsEmpty());
  const elf_symbol* f = find_symbol(*img, "i686_hypot");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->defined);
  EXPECT_EQ(f->type, STT_FUNC);
  EXPECT_EQ(f->binding, STB_GLOBAL);
  EXPECT_THAT(img->version_needs, Contains(Field(&version_need::file, "libc.so.6")));
  const nlohmann::json m = manifest_of(*img);
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(m["fingerprint"]["arch"], "i386");
  EXPECT_EQ(m["fingerprint"]["cxx11_abi"], -1);  // compiled as C
#endif
}

TEST(read_image, aarch64_module_with_manifest) {
#ifndef LIVEMOD_FIXTURE_IMAGE_AARCH64
  GTEST_SKIP() << "aarch64-linux-gnu-g++ was not found at configure time; install "
                  "g++-aarch64-linux-gnu";
#else
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_AARCH64);
  ASSERT_THAT(img, IsOk());
  EXPECT_EQ(img->cls, elf_class::elf64);
  EXPECT_TRUE(img->little_endian);
  EXPECT_EQ(img->machine, EM_AARCH64);
  EXPECT_EQ(img->machine_name, "aarch64");
  EXPECT_EQ(img->soname, "libimage_aarch64.so");
  EXPECT_THAT(img->needed, Contains("libstdc++.so.6"));  // linked --no-as-needed
  EXPECT_THAT(img->needed, Contains("libc.so.6"));
  const elf_symbol* add = find_symbol(*img, "cross_add");
  ASSERT_NE(add, nullptr);
  EXPECT_TRUE(add->defined);
  EXPECT_EQ(add->type, STT_FUNC);
  ASSERT_TRUE(img->manifest_json.has_value());
  EXPECT_THAT(*img->manifest_json, StartsWith(R"({"fingerprint":)"));
  const nlohmann::json m = manifest_of(*img);
  ASSERT_TRUE(m.is_object()) << *img->manifest_json;
  EXPECT_EQ(m["name"], "cross");
  EXPECT_EQ(m["version"], "1.2.3");
  EXPECT_EQ(m["fingerprint"]["arch"], "aarch64");
  EXPECT_THAT(img->pins, IsEmpty());
#endif
}

TEST(read_image, non_pie_executable_is_read) {
  auto img = read_image(LIVEMOD_FIXTURE_IMAGE_EXEC_HOST);
  ASSERT_THAT(img, IsOk());
  EXPECT_EQ(img->type, ET_EXEC);
  EXPECT_THAT(img->needed, Contains("libc.so.6"));
  EXPECT_FALSE(img->manifest_json.has_value());
  EXPECT_NE(find_symbol(*img, "puts"), nullptr);
}

TEST(read_image, this_test_binary_through_proc_self_exe) {
  // A PIE executable is ET_DYN; /proc/self/exe is a symlink, followed like any other.
  auto img = read_image("/proc/self/exe");
  ASSERT_THAT(img, IsOk());
  EXPECT_EQ(img->type, ET_DYN);
  EXPECT_EQ(img->machine_name, "x86_64");
  EXPECT_THAT(img->needed, Contains("libc.so.6"));
  EXPECT_FALSE(img->manifest_json.has_value());
}

// --- read_image_shared: one read per file version ----------------------------------------------

std::string manifest_name(const image_info& img) {
  const nlohmann::json m = manifest_of(img);
  return m.is_object() && m.contains("name") ? m["name"].get<std::string>() : "";
}

// The calculator fixture copied into `dir` as libmodule.so, for the tests that then change it.
std::filesystem::path calculator_copy(const testing_support::temp_dir& dir) {
  const std::filesystem::path file = dir.path() / "libmodule.so";
  std::filesystem::copy_file(LIVEMOD_FIXTURE_CALCULATOR, file);
  return file;
}

TEST(read_image_shared, an_unchanged_file_is_read_once) {
  testing_support::temp_dir dir;
  const std::filesystem::path file = dir.path() / "libcalculator.so";
  std::filesystem::copy_file(LIVEMOD_FIXTURE_CALCULATOR, file);
  auto first = read_image_shared(file);
  auto second = read_image_shared(file);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(manifest_name(**first), "calculator");
}

TEST(read_image_shared, a_file_rewritten_in_place_is_read_again) {
  testing_support::temp_dir dir;
  const std::filesystem::path file = calculator_copy(dir);
  auto before = read_image_shared(file);
  ASSERT_THAT(before, IsOk());

  testing_support::overwrite_in_place(file, LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  auto after = read_image_shared(file);
  ASSERT_THAT(after, IsOk());
  EXPECT_NE(before->get(), after->get());
  EXPECT_EQ(manifest_name(**after), "future_abi");
  EXPECT_EQ(manifest_name(**before), "calculator");  // what a holder has does not change
}

TEST(read_image_shared, a_version_the_caller_identified_is_not_looked_at_again) {
  testing_support::temp_dir dir;
  const std::filesystem::path file = calculator_copy(dir);
  auto version = identify_file(file);
  ASSERT_THAT(version, IsOk());
  auto first = read_image_shared(file, *version);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(read_image_shared(file)->get(), first->get());  // one cache for both forms

  // The caller's identity stands for the file: the version it names is what it gets back,
  // and a newer one it names is read.
  testing_support::overwrite_in_place(file, LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI);
  auto same = read_image_shared(file, *version);
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(same->get(), first->get());
  auto newer = identify_file(file);
  ASSERT_THAT(newer, IsOk());
  ASSERT_NE(*newer, *version);
  auto after = read_image_shared(file, *newer);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(manifest_name(**after), "future_abi");
}

TEST(read_image_shared, an_identified_file_that_is_gone_is_an_error) {
  testing_support::temp_dir dir;
  const std::filesystem::path file = calculator_copy(dir);
  auto version = identify_file(file);
  ASSERT_THAT(version, IsOk());
  std::filesystem::remove(file);
  EXPECT_THAT(read_image_shared(file, *version), HasCode(errc::file_not_found));
}

TEST(read_image_shared, a_file_replaced_by_a_rename_is_read_again) {
  testing_support::temp_dir dir;
  const std::filesystem::path file = calculator_copy(dir);
  ASSERT_THAT(read_image_shared(file), IsOk());

  const std::filesystem::path next = dir.path() / "libmodule.so.new";
  std::filesystem::copy_file(LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI, next);
  std::filesystem::rename(next, file);
  auto after = read_image_shared(file);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(manifest_name(**after), "future_abi");
}

TEST(read_image_shared, failures_are_read_images_and_not_kept) {
  testing_support::temp_dir dir;
  const std::filesystem::path file = dir.path() / "libmodule.so";
  EXPECT_THAT(read_image_shared(file), HasCode(errc::file_not_found));
  std::filesystem::copy_file(LIVEMOD_FIXTURE_CALCULATOR, file);
  EXPECT_THAT(read_image_shared(file), IsOk());
}

TEST(machine_name, names_the_common_machines) {
  EXPECT_EQ(machine_name(EM_X86_64), "x86_64");
  EXPECT_EQ(machine_name(EM_AARCH64), "aarch64");
  EXPECT_EQ(machine_name(EM_386), "i386");
  EXPECT_EQ(machine_name(EM_ARM), "arm");
  EXPECT_EQ(machine_name(EM_RISCV), "riscv");
  EXPECT_EQ(machine_name(4242), "machine 4242");
}

}  // namespace
}  // namespace livemod
