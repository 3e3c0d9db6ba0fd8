# store's on_load fails: its error line is logged and quoted in the error; exit 1.
"$LIVEMOD" load service --path "$LIVEMOD_FIXTURE_GRAPH_FAILING_DIR"
