// Calls a function no library defines: dlopen with RTLD_NOW must refuse the module.
void livemod_fixture_nobody_defines(void);

void undefined_symbol_call(void) { livemod_fixture_nobody_defines(); }

// Something to find when the module is opened lazily (its one undefined symbol never bound).
int undefined_symbol_ready(void) { return 1; }
