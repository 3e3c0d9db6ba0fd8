"$LIVEMOD" --version
