// A host that reads a manifest with the installed runtime library.
#include <livemod/manifest.h>

#include <cstdio>

int main() {
  auto m = livemod::parse_manifest(
      R"({"schema": 1, "name": "hello", "version": "0.1.0", "abi": 1})", "inline");
  if (!m) {
    std::fprintf(stderr, "%s\n", m.error().describe().c_str());
    return 1;
  }
  std::printf("%s %s abi %u\n", m->name.c_str(), m->version.to_string().c_str(),
              livemod::supported_abi_version());
  return 0;
}
