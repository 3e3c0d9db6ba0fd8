"$LIVEMOD" load --help
