// A read-only mapping of a whole file: the portable face of the os layer's "map file"
// primitive (the Linux implementation is src/os/linux/mapped_file.cc).
//
//   livemod::result<livemod::os::mapped_file> f = livemod::os::mapped_file::open("libcalc.so");
//   if (!f) return fail(f.error());
//   std::span<const std::byte> bytes = f->bytes();  // the whole file, never empty
//
// Only the pages that are touched are read from disk, so the cost of looking at a few headers
// does not grow with the size of the file.
//
// Lifetime and threads: move-only; the bytes stay valid until the mapped_file is destroyed or
// moved from. Distinct objects may be used from distinct threads. The mapping is MAP_PRIVATE
// but not a snapshot: if another process truncates the file while it is mapped, touching the
// lost pages raises SIGBUS. Map only files that are not rewritten in place (staged copies,
// build outputs written by rename) when that matters.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

#include "livemod/error.h"

namespace livemod::os {

class mapped_file {
 public:
  // Opens and maps `path`. Errors: file_not_found (the path or a directory on it does not
  // exist), permission_denied, not_a_regular_file (directory, FIFO, socket, device: checked
  // before mapping, and a FIFO is never waited on), empty_file, io_error (any other failure of
  // open, fstat or mmap). The OS text (strerror) is kept in error::os_text().
  static result<mapped_file> open(const std::filesystem::path& path);

  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();

  // The whole file as it was when mapped; empty only for a moved-from object.
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }

 private:
  mapped_file(const std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  void release() noexcept;

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace livemod::os
