// read_image's work on bytes already in memory, for callers that hold them (the os layer's
// mapping, a test's byte vector, a fuzzer). read_image = mapped_file::open + inspect_bytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

#include "livemod/image.h"

namespace livemod::image_detail {

// Same contract and errors as read_image, minus those of opening the file. `path` is only
// recorded and used in messages. No exception escapes (bad_alloc becomes io_error).
result<image_info> inspect_bytes(std::span<const std::byte> bytes,
                                 const std::filesystem::path& path) noexcept;

}  // namespace livemod::image_detail
