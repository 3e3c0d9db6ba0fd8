// Uses livemod_stub_new, which exists from liblivemod_versioned.so's LIVEMOD_STUB_2.0 on.
int livemod_stub_new(void);

int uses_versioned_stub_value(void) { return livemod_stub_new(); }
