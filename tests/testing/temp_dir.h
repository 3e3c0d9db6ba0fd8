// A directory of its own for one test, removed with everything in it when the test ends.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace livemod::testing_support {

class temp_dir {
 public:
  temp_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "livemod-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed: " << pattern;
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

  // Creates `relative` (and its directories) with `content` in it; returns its full path.
  std::filesystem::path write(const std::filesystem::path& relative,
                              std::string_view content = "x") const {
    const std::filesystem::path file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) ADD_FAILURE() << "cannot write " << file;
    return file;
  }

 private:
  std::filesystem::path path_;
};

// Writes `from`'s bytes over `to` in place (the same inode, as a linker writes its output) and
// moves its mtime on, so that a file system with coarse timestamps tells the versions apart.
inline void overwrite_in_place(const std::filesystem::path& to, const std::filesystem::path& from) {
  const auto before = std::filesystem::last_write_time(to);
  {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
    if (!out) ADD_FAILURE() << "cannot write " << to;
  }
  std::filesystem::last_write_time(to, before + std::chrono::seconds(2));
}

}  // namespace livemod::testing_support
