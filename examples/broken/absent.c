// Stands for a library that was present on the build machine but is not where the module runs.
__attribute__((visibility("default"))) int absent_feature(void) { return 42; }
