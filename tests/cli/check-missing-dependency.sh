# A plain library whose NEEDED liblivemod_absent.so is on no search path.
"$LIVEMOD" check --allow-missing-manifest "$LIVEMOD_FIXTURE_MISSING_DEPENDENCY"
