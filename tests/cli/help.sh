"$LIVEMOD" --help
