// The seam between the loader and the dynamic linker: dlopen, dlsym, dlclose and dlerror as a
// table of function pointers. library (livemod/library.h) calls only through
// current_dl_api(), so a test can make any of them fail with the text it chooses, as {fmt}'s
// posix mock does:
//
//   livemod::os::dl_api fake = livemod::os::current_dl_api();
//   fake.dlopen = [](const char*, int) -> void* { return nullptr; };
//   fake.dlerror = []() -> char* { return const_cast<char*>("libx.so: undefined symbol: f"); };
//   livemod::os::scoped_dl_api_override use(fake);
//   EXPECT_THAT(livemod::library::open("/p/libm.so"), HasCode(errc::undefined_symbol));
//
// Threads: the table is process-wide. Install an override only while no other thread is
// loading (a test's own threads start after it and are joined before it ends).
#pragma once

namespace livemod::os {

// The signatures of <dlfcn.h>, which only src/os/linux/ includes. `mode` takes RTLD_* values.
struct dl_api {
  void* (*dlopen)(const char* file, int mode);
  void* (*dlsym)(void* handle, const char* name);
  int (*dlclose)(void* handle);
  char* (*dlerror)();
};

// The table in use: the system's functions unless a test has overridden them.
const dl_api& current_dl_api() noexcept;

// Replaces the table for its lifetime and restores the previous one after. Overrides nest.
// Tests only; library handles opened through a fake table must be closed before it goes.
class scoped_dl_api_override {
 public:
  explicit scoped_dl_api_override(const dl_api& replacement) noexcept;
  ~scoped_dl_api_override();
  scoped_dl_api_override(const scoped_dl_api_override&) = delete;
  scoped_dl_api_override& operator=(const scoped_dl_api_override&) = delete;

 private:
  dl_api previous_;
};

}  // namespace livemod::os
