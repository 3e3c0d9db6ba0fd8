"$LIVEMOD" check --host no-such-host "$LIVEMOD_FIXTURE_CALCULATOR"
