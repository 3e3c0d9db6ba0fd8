// What an on_load's return value means (livemod/sdk/module.h): the ABI version the module
// speaks, 1 to LIVEMOD_ABI_VERSION, or -LIVEMOD_E_*. One reading for the registry's lifecycle
// and the hot swap's, so a module refused by one is refused by the other with the same words.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "livemod/error.h"

namespace livemod::registry_detail {

// `module` names the module in the message, `file` is the error's file; `module_said` is what
// the module logged at error level during on_load ("" if nothing); `failure_remedy` is the
// remedy for a reported failure, which depends on what the caller does next.
// Errors: abi_unsupported (refused the host's ABI, or answered 0 or a newer one), init_failed.
result<std::uint32_t> read_on_load_answer(std::int32_t rc, std::string_view module,
                                          const std::string& file, std::string_view module_said,
                                          std::string_view failure_remedy);

}  // namespace livemod::registry_detail
