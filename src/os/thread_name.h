// Names a thread, so `top -H`, `ps -L`, perf, gdb and /proc show which of a host's threads are
// livemod's (its swap worker, its on_load helper, its file watcher) rather than copies of the
// host's own name. Named by the thread that started it, right after starting it: the name is
// there before the function that started the thread returns.
//
//   std::thread worker([this] { work(); });
//   livemod::os::name_thread(worker, "livemod-swap");
//
// Linux keeps 15 bytes of a name: a longer one is cut to its first 15. Best effort: a name
// that cannot be set leaves the thread as it was (it is a label, not a contract).
#pragma once

#include <string_view>
#include <thread>

namespace livemod::os {

void name_thread(std::thread& thread, std::string_view name) noexcept;

}  // namespace livemod::os
