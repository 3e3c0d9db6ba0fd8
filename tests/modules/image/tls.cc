// A thread_local object with a destructor: g++ registers the destructor with
// __cxa_thread_atexit, which keeps the module mapped while the thread lives (a pin).
#include <livemod/sdk/module.h>

#include <string>

namespace {
thread_local std::string last_greeting;
}

// An exported TLS variable without a destructor, for the STT_TLS symbol itself.
extern "C" {
LIVEMOD_EXPORT thread_local int tls_calls = 0;
}

extern "C" LIVEMOD_EXPORT const char* tls_greet(const char* who) {
  ++tls_calls;
  last_greeting = std::string("hello ") + who;
  return last_greeting.c_str();
}
