# client needs proto ^2.0 but proto is 1.4.2: both versions are named.
"$LIVEMOD" deps client --path "$LIVEMOD_FIXTURE_GRAPH_MISMATCH_DIR"
