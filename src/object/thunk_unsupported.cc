// thunk_block on an architecture with no emitter: the object layer falls back to its portable
// mode (handles with a generation check), which needs no generated code.
#include "object/thunk.h"

namespace livemod::object_detail {

result<thunk_block> thunk_block::create(std::span<const thunk_spec>) {
  return fail(errc::unsupported_platform, "",
              "this build has no conversion thunk emitter for its architecture (only x86-64 "
              "System V and AArch64 have one)",
              "use the portable object mode");
}

bool thunk_block::supported() noexcept { return false; }

}  // namespace livemod::object_detail
