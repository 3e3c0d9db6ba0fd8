// liblivemod_versioned.so, built twice: v1 has node LIVEMOD_STUB_1.0, v2 adds LIVEMOD_STUB_2.0.
int livemod_stub_old(void) { return 1; }

#if LIVEMOD_STUB_VERSION >= 2
int livemod_stub_new(void) { return 2; }
#endif
