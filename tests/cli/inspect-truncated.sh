# The ELF header is 64 bytes: 100 keep it whole, the program and section headers are cut off.
head -c 100 "$LIVEMOD_FIXTURE_CALCULATOR" > truncated.so
"$LIVEMOD" inspect truncated.so
