// liblivemod_absent.so: exists only at link time, as far as the loader tests are concerned.
int livemod_absent_value(void) { return 7; }
