// Calls a C++ function no library defines: the loader names it demangled.
namespace livemod_fixture {
int nobody_defines_this(int);
}

extern "C" int undefined_cxx_symbol_call(int x) { return livemod_fixture::nobody_defines_this(x); }
