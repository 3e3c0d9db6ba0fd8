mkdir modules.d
"$LIVEMOD" inspect modules.d
