// An on_load written with the SDK's C++ face that throws: the macro must turn the exception
// into a return code before it reaches the host.
#include <livemod/sdk/module.hpp>

#include <stdexcept>

namespace {
void load(livemod::sdk::host&) { throw std::runtime_error("config file /etc/reg_throws.conf is missing"); }
}  // namespace

LIVEMOD_ON_LOAD(reg_throws_on_load, load);
