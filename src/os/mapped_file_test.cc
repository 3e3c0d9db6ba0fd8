// os::mapped_file: the read-only whole-file mapping read_image stands on.
#include "os/mapped_file.h"

#include <sys/stat.h>

#include <cstring>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/elf_bytes.h"
#include "testing/matchers.h"

namespace livemod::os {
namespace {

using ::testing::HasSubstr;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;
using testing_support::temp_dir;

TEST(mapped_file, maps_the_whole_file) {
  temp_dir dir;
  const std::string content = "0123456789abcdef";
  auto f = mapped_file::open(dir.write("data.bin", content));
  ASSERT_THAT(f, IsOk());
  ASSERT_EQ(f->size(), content.size());
  EXPECT_EQ(std::memcmp(f->bytes().data(), content.data(), content.size()), 0);
}

TEST(mapped_file, moves_leave_the_source_empty) {
  temp_dir dir;
  auto f = mapped_file::open(dir.write("data.bin", "abc"));
  ASSERT_THAT(f, IsOk());
  mapped_file a = std::move(*f);
  EXPECT_TRUE(f->bytes().empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(a.size(), 3u);
  auto g = mapped_file::open(dir.write("other.bin", "defg"));
  ASSERT_THAT(g, IsOk());
  a = std::move(*g);  // the first mapping is released here
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(std::to_integer<char>(a.bytes()[0]), 'd');
}

TEST(mapped_file, errors) {
  temp_dir dir;
  EXPECT_THAT(mapped_file::open(dir / "missing"), HasCode(errc::file_not_found));
  EXPECT_THAT(mapped_file::open(dir.write("empty", "")), HasCode(errc::empty_file));
  EXPECT_THAT(mapped_file::open(dir.path()),
              HasCodeAndMessage(errc::not_a_regular_file, HasSubstr("a directory")));
  // A path through a regular file: ENOTDIR is a missing file too.
  const auto file = dir.write("plain", "x");
  EXPECT_THAT(mapped_file::open(file / "child"), HasCode(errc::file_not_found));
}

TEST(mapped_file, keeps_the_os_text) {
  temp_dir dir;
  auto f = mapped_file::open(dir / "missing");
  ASSERT_FALSE(f);
  EXPECT_FALSE(f.error().os_text().empty());
  EXPECT_THAT(f.error().message(), HasSubstr(f.error().os_text()));
}

}  // namespace
}  // namespace livemod::os
