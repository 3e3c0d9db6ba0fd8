#include "os/thread_name.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace livemod::os {
namespace {

// What the kernel has for the calling thread.
std::string kernel_name_of_this_thread() {
  std::ifstream comm("/proc/self/task/" + std::to_string(gettid()) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

TEST(ThreadName, TheKernelSeesTheName) {
  std::string seen;
  std::thread([&] {
    name_this_thread("livemod-test");
    seen = kernel_name_of_this_thread();
  }).join();
  EXPECT_EQ(seen, "livemod-test");
}

TEST(ThreadName, ALongerNameIsCutToFifteenBytesNotRefused) {
  std::string seen;
  std::thread([&] {
    name_this_thread("livemod-a-name-of-26-bytes");
    seen = kernel_name_of_this_thread();
  }).join();
  EXPECT_EQ(seen, "livemod-a-name-");
}

}  // namespace
}  // namespace livemod::os
