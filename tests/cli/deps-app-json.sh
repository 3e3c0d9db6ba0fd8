"$LIVEMOD" deps app --path "$LIVEMOD_FIXTURE_GRAPH_OK_DIR" --json
