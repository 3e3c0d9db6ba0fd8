#include "os/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

namespace livemod::os {
namespace {

// Closes the descriptor on every path out of open(); the mapping does not need it.
class fd_guard {
 public:
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::string os_text(int err) { return std::strerror(err); }

error open_error(const std::filesystem::path& path, int err) {
  const std::string file = path.string();
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return error(errc::file_not_found, file, "no such file (" + os_text(err) + ")",
                   "check the path, or build the module first")
          .with_os_text(os_text(err));
    case EACCES:
    case EPERM:
      return error(errc::permission_denied, file,
                   "cannot open the file for reading (" + os_text(err) + ")",
                   "make the file and its directories readable by this user")
          .with_os_text(os_text(err));
    case ENXIO:  // a socket, or a device with nothing behind it
    case ENODEV:
      return error(errc::not_a_regular_file, file,
                   "not a regular file (" + os_text(err) + ")",
                   "give the path of the shared object itself")
          .with_os_text(os_text(err));
    default:
      return error(errc::io_error, file, "cannot open the file (" + os_text(err) + ")",
                   "check the file system and try again")
          .with_os_text(os_text(err));
  }
}

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

}  // namespace

result<mapped_file> mapped_file::open(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it has
  // no effect on the regular files we go on to map. O_NOCTTY: a terminal path must not become
  // our controlling terminal.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail(open_error(path, errno));
  const fd_guard guard(fd);

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    return fail(error(errc::io_error, path.string(), "cannot stat the file (" + os_text(err) + ")",
                      "check the file system and try again")
                    .with_os_text(os_text(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(errc::not_a_regular_file, path.string(),
                std::string("is ") + file_kind(st.st_mode) + ", not a regular file",
                "give the path of the shared object itself");
  }
  if (st.st_size == 0) {
    return fail(errc::empty_file, path.string(), "the file is empty (0 bytes)",
                "wait until it is fully written, or rebuild it");
  }
  if (static_cast<std::uintmax_t>(st.st_size) > std::numeric_limits<std::size_t>::max()) {
    return fail(errc::io_error, path.string(),
                "the file has " + std::to_string(st.st_size) +
                    " bytes, more than this process can map",
                "inspect it from a 64-bit process");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) {
    const int err = errno;
    return fail(error(errc::io_error, path.string(),
                      "cannot map the file's " + std::to_string(size) + " bytes (" +
                          os_text(err) + ")",
                      "check the file system and the process's memory limits")
                    .with_os_text(os_text(err)));
  }
  return mapped_file(static_cast<const std::byte*>(data), size);
}

mapped_file::mapped_file(mapped_file&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

mapped_file::~mapped_file() { release(); }

void mapped_file::release() noexcept {
  // munmap takes a non-const pointer; the pages were mapped PROT_READ and are never written.
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace livemod::os
