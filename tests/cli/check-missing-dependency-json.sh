"$LIVEMOD" check --json --allow-missing-manifest "$LIVEMOD_FIXTURE_MISSING_DEPENDENCY"
