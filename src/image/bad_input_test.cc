// read_image on bad input: files that cannot be opened, files that are not ELF, files cut
// short, and copies of real modules with one field corrupted (Boost.DLL-style). Each case has
// one specific code. The rule the codes follow (src/image/elf_file.h): a structure that runs
// past the end of the file is `truncated`, even when a corrupted offset put it there, because
// from the bytes a cut file and a far offset look the same and the usual cause is a file still
// being written; a value no valid file has is `corrupt_elf`.
#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "image/inspect.h"
#include "livemod/image.h"
#include "testing/elf_bytes.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing_support::elf_bytes;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;
using testing_support::temp_dir;
using ehdr = elf_bytes::ehdr_field;
using shdr = elf_bytes::shdr_field;

class bad_input : public ::testing::Test {
 protected:
  // Writes the (corrupted) copy and reads it back through the public entry point.
  result<image_info> read(const elf_bytes& elf, const std::string& name = "bad.so") {
    return read_image(elf.write_to(dir_ / name));
  }
  static elf_bytes calculator() { return elf_bytes::from_file(LIVEMOD_FIXTURE_CALCULATOR); }

  temp_dir dir_;
};

// ---- opening ---------------------------------------------------------------------------------

TEST_F(bad_input, missing_file) {
  const fs::path p = dir_ / "libnothere.so";
  EXPECT_THAT(read_image(p), HasCodeAndMessage(errc::file_not_found,
                                               AllOf(HasSubstr(p.string()), HasSubstr("no such file"))));
  EXPECT_THAT(read_image(dir_ / "no-dir" / "libx.so"), HasCode(errc::file_not_found));
}

TEST_F(bad_input, missing_file_keeps_the_os_text) {
  auto r = read_image(dir_ / "libnothere.so");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().os_text(), "No such file or directory");
}

TEST_F(bad_input, empty_file) {
  EXPECT_THAT(read_image(dir_.write("empty.so", "")),
              HasCodeAndMessage(errc::empty_file, HasSubstr("0 bytes")));
}

TEST_F(bad_input, directory) {
  EXPECT_THAT(read_image(dir_.path()),
              HasCodeAndMessage(errc::not_a_regular_file, HasSubstr("is a directory")));
}

TEST_F(bad_input, fifo_is_refused_without_waiting_for_a_writer) {
  const fs::path p = dir_ / "pipe.so";
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  EXPECT_THAT(read_image(p), HasCodeAndMessage(errc::not_a_regular_file, HasSubstr("fifo")));
}

TEST_F(bad_input, character_device) {
  EXPECT_THAT(read_image("/dev/null"),
              HasCodeAndMessage(errc::not_a_regular_file, HasSubstr("character device")));
}

TEST_F(bad_input, unreadable_file) {
  const fs::path p = calculator().write_to(dir_ / "secret.so");
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                   fs::perms::others_read | fs::perms::others_exec);
  if (::geteuid() != 0) {
    fs::permissions(p, fs::perms::none);
    EXPECT_THAT(read_image(p), HasCode(errc::permission_denied));
    return;
  }
  // root reads anything: drop to nobody in a child and report the code as its exit status.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(1);
    }
    auto r = read_image(p);
    ::_exit(r ? 0 : static_cast<int>(r.error().code()));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 1) GTEST_SKIP() << "cannot switch to uid 65534 (nobody)";
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(errc::permission_denied));
}

// ---- not ELF ---------------------------------------------------------------------------------

TEST_F(bad_input, text_file_is_not_elf) {
  EXPECT_THAT(read_image(dir_.write("libc.so", "/* GNU ld script */\nGROUP ( libc.so.6 )\n")),
              HasCodeAndMessage(errc::not_elf, HasSubstr("2f 2a 20 47")));
}

TEST_F(bad_input, three_bytes_of_the_magic_are_not_elf) {
  EXPECT_THAT(read_image(dir_.write("short.so", "\x7f" "EL")), HasCode(errc::not_elf));
}

TEST_F(bad_input, magic_alone_is_truncated) {
  EXPECT_THAT(read_image(dir_.write("magic.so", "\x7f" "ELF")),
              HasCodeAndMessage(errc::truncated, HasSubstr("ELF identification")));
}

// ---- truncated -------------------------------------------------------------------------------

TEST_F(bad_input, cut_inside_the_elf_header) {
  elf_bytes elf = calculator();
  elf.truncate(40);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated,
                                           HasSubstr("ELFCLASS64 header needs 64 bytes but the file has 40")));
}

TEST_F(bad_input, cut_inside_the_program_headers) {
  elf_bytes elf = calculator();
  elf.truncate(elf.ehdr(ehdr::phoff) + elf.ehdr(ehdr::phentsize) + 10);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated, HasSubstr("program header table")));
}

TEST_F(bad_input, cut_inside_the_section_headers) {
  elf_bytes elf = calculator();
  const std::uint64_t shoff = elf.ehdr(ehdr::shoff);
  elf.truncate(shoff + 3 * elf.ehdr(ehdr::shentsize) + 5);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated,
                                           AllOf(HasSubstr("section header table"),
                                                 HasSubstr("but the file has " + std::to_string(elf.size())))));
}

// Cut inside .dynamic or .dynstr: the section header table, which linkers write last, is gone
// as well, and that is what is reported.
TEST_F(bad_input, cut_inside_the_dynamic_section) {
  elf_bytes elf = calculator();
  elf.truncate(elf.require_section(".dynamic").header.sh_offset + 24);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated, HasSubstr("section header table starts at byte")));
}

TEST_F(bad_input, cut_inside_dynstr) {
  elf_bytes elf = calculator();
  elf.truncate(elf.require_section(".dynstr").header.sh_offset + 10);
  EXPECT_THAT(read(elf), HasCode(errc::truncated));
}

// Every prefix of a real module, from the magic on, is `truncated`: no cut gives another code,
// none is read as a valid file, none crashes (the ASan build runs this too).
TEST_F(bad_input, every_prefix_is_truncated) {
  const elf_bytes elf = calculator();
  const auto& bytes = elf.bytes();
  int wrong = 0;
  for (std::size_t cut = 4; cut < bytes.size() && wrong < 5; ++cut) {
    auto r = image_detail::inspect_bytes(std::span(bytes.data(), cut), "prefix.so");
    if (r || r.error().code() != errc::truncated) {
      ++wrong;
      ADD_FAILURE() << "cut at " << cut << ": "
                    << (r ? std::string("read as valid") : r.error().describe());
    }
  }
}

// ---- corrupted ELF header --------------------------------------------------------------------

TEST_F(bad_input, ei_class_3) {
  elf_bytes elf = calculator();
  elf.set_byte(EI_CLASS, 3);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("EI_CLASS is 3")));
}

TEST_F(bad_input, ei_data_3) {
  elf_bytes elf = calculator();
  elf.set_byte(EI_DATA, 3);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("EI_DATA is 3")));
}

TEST_F(bad_input, ei_version) {
  elf_bytes elf = calculator();
  elf.set_byte(EI_VERSION, 2);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("EI_VERSION is 2")));
}

TEST_F(bad_input, e_version) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::version, 7);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("e_version is 7")));
}

TEST_F(bad_input, relocatable_object_is_not_a_shared_object) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::type, ET_REL);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::not_shared_object,
                                           AllOf(HasSubstr("ET_REL"), HasSubstr("-shared"))));
}

TEST_F(bad_input, core_dump_is_not_a_shared_object) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::type, ET_CORE);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::not_shared_object, HasSubstr("core dump")));
}

TEST_F(bad_input, et_exec_is_accepted) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::type, ET_EXEC);
  auto r = read(elf);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->type, ET_EXEC);
}

TEST_F(bad_input, e_phentsize_wrong) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::phentsize, 32);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf,
                                           HasSubstr("e_phentsize is 32, but an ELFCLASS64 program header has 56 bytes")));
}

TEST_F(bad_input, e_phoff_past_end_is_truncated) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::phoff, elf.size() + 4096);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated, HasSubstr("e_phoff")));
}

TEST_F(bad_input, e_shoff_past_end_is_truncated) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::shoff, elf.size() + 4096);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated,
                                           HasSubstr("section header table starts at byte " +
                                                     std::to_string(elf.size() + 4096) + " (e_shoff)")));
}

TEST_F(bad_input, e_shoff_zero) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::shoff, 0);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("no section header table")));
}

TEST_F(bad_input, e_shnum_huge) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::shnum, 0xffff);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("e_shnum is 65535")));
}

TEST_F(bad_input, e_shnum_too_large_for_the_file_is_truncated) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::shnum, 0x4000);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated, HasSubstr("16384 entries of 64 bytes")));
}

TEST_F(bad_input, e_shentsize_wrong) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::shentsize, 40);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("e_shentsize is 40")));
}

TEST_F(bad_input, e_shstrndx_out_of_range) {
  elf_bytes elf = calculator();
  const std::uint64_t shnum = elf.ehdr(ehdr::shnum);
  elf.set_ehdr(ehdr::shstrndx, shnum + 5);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf,
                                           HasSubstr("e_shstrndx is " + std::to_string(shnum + 5) +
                                                     " but the file has only " + std::to_string(shnum))));
}

TEST_F(bad_input, e_shstrndx_names_a_section_that_is_not_a_string_table) {
  elf_bytes elf = calculator();
  elf.set_ehdr(ehdr::shstrndx, elf.require_section(".dynsym").index);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("not SHT_STRTAB")));
}

// ---- corrupted section headers ---------------------------------------------------------------

TEST_F(bad_input, section_offset_past_end_is_truncated) {
  elf_bytes elf = calculator();
  const auto dynstr = elf.require_section(".dynstr");
  elf.set_shdr(dynstr, shdr::offset, elf.size() + 100);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::truncated, HasSubstr("(.dynstr) covers bytes")));
}

TEST_F(bad_input, section_offset_and_size_overflow) {
  elf_bytes elf = calculator();
  const auto dynstr = elf.require_section(".dynstr");
  elf.set_shdr(dynstr, shdr::offset, 0x100);
  elf.set_shdr(dynstr, shdr::size, ~std::uint64_t{0} - 0x10);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("overflow 64 bits")));
}

TEST_F(bad_input, section_name_outside_shstrtab) {
  elf_bytes elf = calculator();
  elf.set_shdr(elf.require_section(".dynsym"), shdr::name, 0x7fffff);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("the name of section")));
}

TEST_F(bad_input, dynsym_link_out_of_range) {
  elf_bytes elf = calculator();
  elf.set_shdr(elf.require_section(".dynsym"), shdr::link, 999);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf,
                                           AllOf(HasSubstr("(.dynsym) names section 999"),
                                                 HasSubstr("sh_link"))));
}

TEST_F(bad_input, dynsym_link_to_a_section_that_is_not_a_string_table) {
  elf_bytes elf = calculator();
  const auto text = elf.require_section(".text");
  elf.set_shdr(elf.require_section(".dynsym"), shdr::link, text.index);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("(.text)")));
}

TEST_F(bad_input, dynsym_entsize_wrong) {
  elf_bytes elf = calculator();
  elf.set_shdr(elf.require_section(".dynsym"), shdr::entsize, 16);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("sh_entsize 16")));
}

TEST_F(bad_input, dynamic_size_not_a_whole_number_of_entries) {
  elf_bytes elf = calculator();
  const auto dyn = elf.require_section(".dynamic");
  elf.set_shdr(dyn, shdr::size, dyn.header.sh_size - 3);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("whole number")));
}

TEST_F(bad_input, needed_string_outside_dynstr) {
  elf_bytes elf = elf_bytes::from_file(LIVEMOD_FIXTURE_IMAGE_TLS);
  const auto needed = elf.dynamic_entry(DT_NEEDED);
  ASSERT_TRUE(needed.has_value());
  elf.write(elf.dynamic_value_offset(*needed), 8, 0x7fffffff);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf,
                                           AllOf(HasSubstr("DT_NEEDED"), HasSubstr("(.dynstr)"))));
}

TEST_F(bad_input, dynstr_without_a_final_nul) {
  elf_bytes elf = calculator();
  const auto dynstr = elf.require_section(".dynstr");
  const auto soname = elf.dynamic_entry(DT_SONAME);
  ASSERT_TRUE(soname.has_value());
  // End the string table in the middle of the SONAME string.
  const std::uint64_t at = elf.read(elf.dynamic_value_offset(*soname), 8);
  elf.set_shdr(dynstr, shdr::size, at + 3);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("without a NUL")));
}

// ---- symbol versions -------------------------------------------------------------------------

TEST_F(bad_input, versym_count_differs_from_dynsym) {
  elf_bytes elf = elf_bytes::from_file(LIVEMOD_FIXTURE_IMAGE_TLS);
  const auto versym = elf.require_section(".gnu.version");
  elf.set_shdr(versym, shdr::size, versym.header.sh_size - 2);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr(".gnu.version")));
}

TEST_F(bad_input, versym_index_nothing_defines) {
  elf_bytes elf = elf_bytes::from_file(LIVEMOD_FIXTURE_IMAGE_TLS);
  const auto versym = elf.require_section(".gnu.version");
  elf.write(versym.header.sh_offset + 2, 2, 0x7ff0);  // symbol 1
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("version index 32752")));
}

class bad_verneed : public bad_input {
 protected:
  // The TLS fixture needs versions from libstdc++ and libc: two Verneed entries.
  void SetUp() override {
    elf_ = elf_bytes::from_file(LIVEMOD_FIXTURE_IMAGE_TLS).bytes();
    needs_ = elf().verneeds();
    ASSERT_GE(needs_.size(), 2u);
    ASSERT_THAT(read(elf()), IsOk());
  }
  elf_bytes elf() const { return elf_bytes(elf_); }

  std::vector<std::byte> elf_;
  std::vector<elf_bytes::verneed_ref> needs_;
};

TEST_F(bad_verneed, vn_next_ends_the_chain_early) {
  elf_bytes elf = this->elf();
  elf.write(needs_[0].offset + elf_bytes::vn_next, 4, 0);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf,
                                           HasSubstr("ends (vn_next is 0) after 1 of the " +
                                                     std::to_string(needs_.size()) +
                                                     " entries sh_info declares")));
}

TEST_F(bad_verneed, vn_next_loops_back_modulo_2_32) {
  // A loader that adds vn_next to a 32-bit pointer would return to entry 0 forever.
  elf_bytes elf = this->elf();
  const std::uint64_t back = std::uint64_t{1} << 32;
  elf.write(needs_[1].offset + elf_bytes::vn_next, 4, back - (needs_[1].offset - needs_[0].offset));
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("lies outside the section")));
}

TEST_F(bad_verneed, vn_next_out_of_range) {
  elf_bytes elf = this->elf();
  elf.write(needs_[0].offset + elf_bytes::vn_next, 4, 0x10000);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf,
                                           AllOf(HasSubstr("Verneed entry 1 at offset 65536"),
                                                 HasSubstr("lies outside the section"))));
}

TEST_F(bad_verneed, vn_next_misaligned) {
  elf_bytes elf = this->elf();
  const std::uint64_t next = elf.read(needs_[0].offset + elf_bytes::vn_next, 4);
  elf.write(needs_[0].offset + elf_bytes::vn_next, 4, next - 2);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("not 4-byte aligned")));
}

TEST_F(bad_verneed, vn_aux_out_of_range) {
  elf_bytes elf = this->elf();
  elf.write(needs_[0].offset + elf_bytes::vn_aux, 4, 0xfffff0);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("Vernaux entry 0 of Verneed entry 0")));
}

TEST_F(bad_verneed, vna_next_ends_the_chain_early) {
  elf_bytes elf = this->elf();
  std::size_t n = 0;
  while (n < needs_.size() && needs_[n].aux.size() < 2) ++n;
  ASSERT_LT(n, needs_.size()) << "the fixture needs two versions from one library";
  elf.write(needs_[n].aux[0].offset + elf_bytes::vna_next, 4, 0);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("vna_next is 0")));
}

TEST_F(bad_verneed, vn_version_unknown) {
  elf_bytes elf = this->elf();
  elf.write(needs_[0].offset + elf_bytes::vn_version, 2, 2);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("VER_NEED_CURRENT")));
}

TEST_F(bad_verneed, vn_file_outside_dynstr) {
  elf_bytes elf = this->elf();
  elf.write(needs_[0].offset + elf_bytes::vn_file, 4, 0xffffff);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("the file name of Verneed entry 0")));
}

TEST_F(bad_verneed, vna_name_outside_dynstr) {
  elf_bytes elf = this->elf();
  elf.write(needs_[0].aux[0].offset + elf_bytes::vna_name, 4, 0xffffff);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("the version name of Vernaux entry 0")));
}

TEST_F(bad_verneed, sh_info_larger_than_the_chain) {
  elf_bytes elf = this->elf();
  elf.set_shdr(elf.require_section(".gnu.version_r"), shdr::info, needs_.size() + 1);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("entries sh_info declares")));
}

TEST_F(bad_verneed, sh_info_smaller_than_the_chain) {
  elf_bytes elf = this->elf();
  elf.set_shdr(elf.require_section(".gnu.version_r"), shdr::info, 1);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf,
                                           HasSubstr("has " + std::to_string(needs_.size()) +
                                                     " entries, but sh_info declares 1")));
}

TEST_F(bad_verneed, patched_version_name_is_read_back) {
  // The way another layer's tests make a module "need a newer glibc": rename a needed version
  // in place (same length) and read it back.
  elf_bytes elf = this->elf();
  for (const auto& need : needs_) {
    for (const auto& aux : need.aux) {
      if (aux.version == "GLIBC_2.2.5") {
        for (std::size_t i = 0; i < 5; ++i) elf.set_byte(aux.name_offset + 6 + i, "9.9.9"[i]);
      }
    }
  }
  auto r = read(elf);
  ASSERT_THAT(r, IsOk());
  bool found = false;
  for (const auto& need : r->version_needs) {
    for (const auto& v : need.versions) found = found || v == "GLIBC_9.9.9";
  }
  EXPECT_TRUE(found);
}

class bad_verdef : public bad_input {
 protected:
  void SetUp() override {
    elf_ = elf_bytes::from_file(LIVEMOD_FIXTURE_IMAGE_VERSIONED).bytes();
    defs_ = elf().verdefs();
    ASSERT_EQ(defs_.size(), 3u);
    ASSERT_THAT(read(elf()), IsOk());
  }
  elf_bytes elf() const { return elf_bytes(elf_); }

  std::vector<std::byte> elf_;
  std::vector<elf_bytes::verdef_ref> defs_;
};

TEST_F(bad_verdef, vd_next_out_of_range) {
  elf_bytes elf = this->elf();
  elf.write(defs_[1].offset + elf_bytes::vd_next, 4, 0x100000);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("Verdef entry 2 at offset")));
}

TEST_F(bad_verdef, vd_next_ends_the_chain_early) {
  elf_bytes elf = this->elf();
  elf.write(defs_[0].offset + elf_bytes::vd_next, 4, 0);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("after 1 of the 3 entries sh_info declares")));
}

TEST_F(bad_verdef, vd_cnt_zero) {
  elf_bytes elf = this->elf();
  elf.write(defs_[1].offset + elf_bytes::vd_cnt, 2, 0);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("vd_cnt is 0")));
}

TEST_F(bad_verdef, vd_version_unknown) {
  elf_bytes elf = this->elf();
  elf.write(defs_[2].offset + elf_bytes::vd_version, 2, 9);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("VER_DEF_CURRENT")));
}

TEST_F(bad_verdef, vda_next_ends_the_parent_chain_early) {
  elf_bytes elf = this->elf();
  ASSERT_EQ(defs_[2].aux.size(), 2u);  // LIVEMOD_2.0 and its parent LIVEMOD_1.0
  elf.write(defs_[2].aux[0] + elf_bytes::vda_next, 4, 0);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("vda_next is 0")));
}

TEST_F(bad_verdef, vda_name_outside_dynstr) {
  elf_bytes elf = this->elf();
  elf.write(defs_[1].aux[0] + elf_bytes::vda_name, 4, 0xffffff);
  EXPECT_THAT(read(elf), HasCodeAndMessage(errc::corrupt_elf, HasSubstr("Verdaux entry 0 of Verdef entry 1")));
}

// ---- no crash on any single-byte corruption --------------------------------------------------

// Every byte read_image reads (the headers, the tables and the sections it looks at) of two
// real modules, corrupted in turn: any outcome but a crash or an unexpected code is fine.
// Bytes it never reads (code, data, debug info) cannot change the outcome and are skipped.
TEST_F(bad_input, every_single_byte_corruption_gives_a_result) {
  for (const char* path : {LIVEMOD_FIXTURE_IMAGE_TLS, LIVEMOD_FIXTURE_IMAGE_VERSIONED}) {
    const elf_bytes elf = elf_bytes::from_file(path);
    std::vector<std::pair<std::size_t, std::size_t>> ranges = {
        {0, elf.ehdr(ehdr::ehsize)},
        {elf.ehdr(ehdr::phoff), elf.ehdr(ehdr::phnum) * elf.ehdr(ehdr::phentsize)},
        {elf.ehdr(ehdr::shoff), elf.ehdr(ehdr::shnum) * elf.ehdr(ehdr::shentsize)}};
    for (const char* name : {".dynamic", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_r",
                             ".gnu.version_d", ".shstrtab", ".livemod.manifest", ".comment"}) {
      if (auto s = elf.section(name)) {
        ranges.emplace_back(s->header.sh_offset, s->header.sh_size);
      }
    }
    std::vector<std::byte> bytes = elf.bytes();
    int unexpected = 0;
    int tried = 0;
    for (const auto& [begin, length] : ranges) {
      for (std::size_t i = begin; i < begin + length && unexpected < 5; ++i) {
        for (const std::byte mask : {std::byte{0xff}, std::byte{0x01}, std::byte{0x80}}) {
          const std::byte saved = bytes[i];
          bytes[i] ^= mask;
          auto r = image_detail::inspect_bytes(bytes, "flipped.so");
          bytes[i] = saved;
          ++tried;
          if (r) continue;
          const errc c = r.error().code();
          if (c != errc::corrupt_elf && c != errc::truncated && c != errc::not_elf &&
              c != errc::not_shared_object) {
            ++unexpected;
            ADD_FAILURE() << path << " byte " << i << " ^ " << std::to_integer<unsigned>(mask)
                          << ": " << r.error().describe();
          }
        }
      }
    }
    EXPECT_GT(tried, 3000) << path;
  }
}

}  // namespace
}  // namespace livemod
