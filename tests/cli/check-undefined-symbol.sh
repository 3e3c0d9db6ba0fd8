# Two errors at once: no manifest (no --allow-missing-manifest) and a symbol nobody defines.
"$LIVEMOD" check "$LIVEMOD_FIXTURE_UNDEFINED_SYMBOL"
