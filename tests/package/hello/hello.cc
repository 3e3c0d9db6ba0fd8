// The smallest module, written against the installed SDK's C++ face.
#include <livemod/sdk/module.hpp>

static void load(livemod::sdk::host& host) { host.log(LIVEMOD_LOG_INFO, "hello"); }

LIVEMOD_ON_LOAD(hello_on_load, load);
