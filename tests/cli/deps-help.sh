"$LIVEMOD" deps --help
