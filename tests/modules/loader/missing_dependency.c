// Needs liblivemod_absent.so (DT_NEEDED) but has no RUNPATH to find it.
int livemod_absent_value(void);

int missing_dependency_value(void) { return livemod_absent_value() + 1; }
