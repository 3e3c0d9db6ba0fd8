"$LIVEMOD" check no-such-module.so
