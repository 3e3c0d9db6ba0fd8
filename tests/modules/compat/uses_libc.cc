// A module with strong, versioned references into the C library (snprintf, getenv), so that
// its .gnu.version_r names GLIBC_ versions that libc.so.6 must define.
#include <livemod/sdk/module.h>

#include <cstdio>
#include <cstdlib>

extern "C" LIVEMOD_EXPORT int uses_libc_format(char* out, int size, int value) {
  const char* prefix = std::getenv("USES_LIBC_PREFIX");
  return std::snprintf(out, static_cast<std::size_t>(size), "%s%d", prefix ? prefix : "", value);
}
