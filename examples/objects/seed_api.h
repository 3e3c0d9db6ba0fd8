// The seed demo's interface: IBase with Hello() and Foo(), and the class that implements it
// in every version of the module "seed".
#pragma once

#include <livemod/sdk/object.hpp>

struct IBase : livemod::unknown {
  virtual int Hello() = 0;  // prints and returns a
  virtual int Foo() = 0;    // prints and returns b (-1 in v1, which has no b)
};
LIVEMOD_INTERFACE(IBase, livemod::unknown, "6d0b7f1e-3c1a-4c52-9a43-0f6f2a1d9e10",
                  LIVEMOD_METHOD(Hello, int()), LIVEMOD_METHOD(Foo, int()));

inline constexpr livemod_iid seed_base_class =
    livemod::sdk::parse_iid("a7c3e9f1-2b4d-4e6f-8a1c-3e5f7b9d1c2e");
