# A plain shared library: a readable ELF without a manifest is not an error for inspect.
"$LIVEMOD" inspect "$LIVEMOD_FIXTURE_MISSING_DEPENDENCY"
