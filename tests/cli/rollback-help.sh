"$LIVEMOD" rollback --help
