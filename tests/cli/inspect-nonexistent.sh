"$LIVEMOD" inspect no-such-module.so
