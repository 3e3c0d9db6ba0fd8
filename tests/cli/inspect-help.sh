"$LIVEMOD" inspect --help
