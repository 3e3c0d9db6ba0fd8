// Names the calling thread, so `top -H`, `ps -L`, perf, gdb and /proc show which of a host's
// threads are livemod's (its swap worker, its on_load helper, its file watcher) rather than
// copies of the host's own name.
//
//   livemod::os::name_this_thread("livemod-swap");
//
// Linux keeps 15 bytes of a name: a longer one is cut to its first 15. Best effort: a name
// that cannot be set leaves the thread as it was (it is a label, not a contract).
#pragma once

#include <string_view>

namespace livemod::os {

void name_this_thread(std::string_view name) noexcept;

}  // namespace livemod::os
