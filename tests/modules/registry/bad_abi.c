/* An on_load that answers with an ABI from the future. */
#include "fixture.h"

LIVEMOD_EXPORT int32_t reg_bad_abi_on_load(const livemod_host_api* host, uint32_t abi) {
  (void)host;
  (void)abi;
  return 99;
}
