"$LIVEMOD" check --help
