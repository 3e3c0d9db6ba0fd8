// A module whose manifest asks for a livemod ABI this livemod does not have.
#include <livemod/sdk/module.h>

extern "C" LIVEMOD_EXPORT int future_abi_value() { return 99; }
