// What every architecture's thunk_block shares; the emitters are thunk_<arch>.cc.
#include "object/thunk.h"

namespace livemod::object_detail {

const void* thunk_block::address(std::size_t i) const noexcept {
  if (i >= offsets_.size()) return nullptr;
  return static_cast<const char*>(code_.executable()) + offsets_[i];
}

}  // namespace livemod::object_detail
