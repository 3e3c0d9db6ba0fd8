#include "os/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace livemod::os {

void name_thread(std::thread& thread, std::string_view name) noexcept {
  if (!thread.joinable()) return;
  // The kernel's limit (TASK_COMM_LEN) is 16 bytes with the terminator; pthread_setname_np
  // refuses a longer name outright (ERANGE), so it is cut here instead.
  std::array<char, 16> buffer{};
  const std::size_t length = std::min(name.size(), buffer.size() - 1);
  std::memcpy(buffer.data(), name.data(), length);
  (void)pthread_setname_np(thread.native_handle(), buffer.data());
}

}  // namespace livemod::os
