"$LIVEMOD" check --json
