#include "registry/on_load_answer.h"

#include "livemod/sdk/module.h"

namespace livemod::registry_detail {

result<std::uint32_t> read_on_load_answer(std::int32_t rc, std::string_view module,
                                          const std::string& file, std::string_view module_said,
                                          std::string_view failure_remedy) {
  const std::string name(module);
  const std::string said = module_said.empty() ? "" : ": " + std::string(module_said);
  if (rc < 0) {
    if (rc == -LIVEMOD_E_ABI) {
      return fail(errc::abi_unsupported, file,
                  name + "'s on_load refused livemod abi " + std::to_string(LIVEMOD_ABI_VERSION) +
                      said,
                  "rebuild the module against this host's livemod sdk");
    }
    const char* what = rc == -LIVEMOD_E_EXCEPTION ? "on_load threw an exception"
                                                  : "on_load reported a failure";
    return fail(errc::init_failed, file,
                name + ": " + what + " (code " + std::to_string(rc) + ")" + said,
                std::string(failure_remedy));
  }
  if (rc == 0 || static_cast<std::uint32_t>(rc) > LIVEMOD_ABI_VERSION) {
    return fail(errc::abi_unsupported, file,
                name + "'s on_load says it speaks livemod abi " + std::to_string(rc) +
                    ", this host speaks 1 to " + std::to_string(LIVEMOD_ABI_VERSION),
                rc == 0 ? "on_load must return the abi version it speaks (LIVEMOD_ABI_VERSION), "
                          "not 0"
                        : "use a host built with a newer livemod, or an older build of the module");
  }
  return static_cast<std::uint32_t>(rc);
}

}  // namespace livemod::registry_detail
