# stdout cannot be written (a full disk): exit 3, never a silent success.
"$LIVEMOD" inspect "$LIVEMOD_FIXTURE_CALCULATOR" > /dev/full
