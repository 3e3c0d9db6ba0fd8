#include "os/thread_name.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

namespace livemod::os {
namespace {

// Starts a thread, names it from here, then has it read what the kernel has for it.
std::string kernel_name_after_naming(std::string_view name) {
  std::atomic<bool> named{false};
  std::string seen;
  std::thread thread([&] {
    named.wait(false);
    std::ifstream comm("/proc/self/task/" + std::to_string(gettid()) + "/comm");
    std::getline(comm, seen);
  });
  name_thread(thread, name);
  named = true;
  named.notify_one();
  thread.join();
  return seen;
}

TEST(ThreadName, TheKernelSeesTheName) {
  EXPECT_EQ(kernel_name_after_naming("livemod-test"), "livemod-test");
}

TEST(ThreadName, ALongerNameIsCutToFifteenBytesNotRefused) {
  EXPECT_EQ(kernel_name_after_naming("livemod-a-name-of-26-bytes"), "livemod-a-name-");
}

}  // namespace
}  // namespace livemod::os
