// thunk_block on an architecture with no emitter: the object layer falls back to its portable
// mode (handles with a generation check), which needs no generated code.
#include "object/thunk.h"

namespace livemod::object_detail {

std::vector<std::uint8_t> emit_thunks(std::span<const thunk_spec>, std::vector<std::size_t>&) {
  return {};  // never called: create() refuses first, as supported() is false
}

bool thunk_block::supported() noexcept { return false; }

}  // namespace livemod::object_detail
