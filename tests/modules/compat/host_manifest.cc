// A host that states its own build fingerprint in a manifest, as a livemod-aware server may.
// Built with _GLIBCXX_DEBUG, so its fingerprint differs from every ordinary module's.
#include <livemod/sdk/fingerprint.h>

#include <cstdio>

__attribute__((used, section(".livemod.manifest"))) const char livemod_host_manifest[] =
    "{\"schema\":1,\"name\":\"compat_host\",\"version\":\"1.0.0\",\"abi\":1,"
    "\"fingerprint\":" LIVEMOD_BUILD_FINGERPRINT_JSON "}";

int main() {
  std::puts(livemod_host_manifest);
  return 0;
}
