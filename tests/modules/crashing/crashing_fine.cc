// The well-behaved neighbour of the crashing fixture: a module whose own code never crashes,
// and which calls back into another module, so a test can check that the guard blames the
// module whose instruction faulted, not the one that happened to be further up the stack.
#include <livemod/sdk/module.h>

extern "C" LIVEMOD_EXPORT int fine_add(int a, int b) { return a + b; }

// noinline and a use of the result after the call: the call must stay a real call with this
// module's frame above the callee, never a tail jump.
extern "C" LIVEMOD_EXPORT __attribute__((noinline)) int fine_apply(int (*f)(int), int x) {
  const int result = f(x);
  return result + 1;
}
